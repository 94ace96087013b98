import type { Bus, CallContext } from '../dbus/bus.js';
import type { CachedUpdate } from '../core/cached-update.js';
import type { DeploymentStatus } from '../core/ops/status.js';
import type { Authorizer } from './authorization.js';
import type { DaemonConfig } from './config.js';
import type { TransactionQueue } from './transaction-queue.js';

/** What the bus objects share: the connection, the sysroot as last read, the queue, authorization, settings. */
export interface DaemonContext {
  bus: Bus;
  sysroot: string;
  state: SysrootSnapshot;
  queue: TransactionQueue;
  authorizer: Authorizer;
  config: DaemonConfig;
  /** "client id (uid N)" of a caller: its RegisterClient id, else its bus name. */
  describeCaller(call: CallContext): string;
}

export interface SysrootSnapshot {
  deployments: DeploymentStatus[];
  osnames: string[];
  /** Stateroot of the booted deployment; undefined offline. */
  bootedOsname: string | undefined;
  /** Per stateroot: the update the last check found and that is not deployed yet. */
  cachedUpdates: Readonly<Record<string, CachedUpdate | null>>;
}
