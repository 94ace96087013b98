import type { CallContext, ExportedInterface } from '../dbus/bus.js';
import { STATUS_DICT, encodeDeployment, encodeDict, implementInterface } from '../dbus/contract.js';
import { NO_OBJECT, SYSROOT_INTERFACE, SYSROOT_PATH, osPath } from '../dbus/names.js';
import { currentCachedUpdate, status } from '../core/ops/status.js';
import { loadSysroot } from '../core/sysroot/sysroot.js';
import { AptOstreeError } from '../lib/errors.js';
import { VERSION } from '../version.js';
import type { DaemonContext, SysrootSnapshot } from './context.js';

/** Reads the sysroot: every deployment as status --json shows it, the stateroots, the booted one. */
export async function readSysroot(path: string): Promise<SysrootSnapshot> {
  const sysroot = await loadSysroot(path);
  const report = await status({ sysroot: path });
  const cached = await Promise.all(sysroot.osnames.map(async (os) => [os, await currentCachedUpdate(path, os, report.deployments)] as const));
  return {
    deployments: report.deployments, osnames: sysroot.osnames, bootedOsname: sysroot.booted?.osname,
    cachedUpdates: Object.fromEntries(cached),
  };
}

export interface SysrootHooks {
  reload(): Promise<void>;
  reloadConfig(): Promise<void>;
  registerClient(call: CallContext, id: string | undefined): Promise<void>;
  unregisterClient(call: CallContext): void;
  clients(): string[];
  polkitAvailable(): Promise<boolean>;
}

/** org.aptostree.AptOstree1.Sysroot. */
export class SysrootObject {
  private exported: ExportedInterface | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly ctx: DaemonContext, private readonly hooks: SysrootHooks) {}

  /** The stateroot GetOS('') means: the booted one, offline the default deployment's. */
  defaultOsname(): string | undefined {
    const s = this.ctx.state;
    return s.bootedOsname ?? s.deployments[0]?.osname ?? (s.osnames.length === 1 ? s.osnames[0] : undefined);
  }

  private activeTransaction(): [string, string, string] {
    const tx = this.ctx.queue.active;
    return tx ? [tx.title, tx.initiator, tx.path] : ['', '', NO_OBJECT];
  }

  export(): void {
    const authorize = (args: unknown[], call: CallContext): Promise<void> => this.ctx.authorizer.authorize(call, args);
    this.exported = this.ctx.bus.exportInterface(SYSROOT_PATH, implementInterface(SYSROOT_INTERFACE, {
      methods: {
        RegisterClient: async ([options], call) => {
          const id = (options as Record<string, unknown>).id;
          await this.hooks.registerClient(call, typeof id === 'string' ? id : undefined);
        },
        UnregisterClient: (_args, call) => { this.hooks.unregisterClient(call); },
        Reload: async (args, call) => {
          await authorize(args, call);
          await this.hooks.reload();
        },
        ReloadConfig: async (args, call) => {
          await authorize(args, call);
          await this.hooks.reloadConfig();
        },
        GetOS: ([name]) => {
          const wanted = typeof name === 'string' && name !== '' ? name : this.defaultOsname();
          if (wanted === undefined || !this.ctx.state.osnames.includes(wanted)) {
            throw new AptOstreeError('unknown-os', wanted === undefined ? `no default stateroot in ${this.ctx.sysroot}`
              : `no stateroot named '${wanted}' in ${this.ctx.sysroot}`,
            `stateroots here: ${this.ctx.state.osnames.join(', ') || 'none'}`);
          }
          return osPath(wanted);
        },
        Ping: () => VERSION,
        GetStatus: async () => encodeDict(STATUS_DICT, {
          version: VERSION,
          pid: process.pid,
          'uptime-seconds': Math.floor((Date.now() - this.startedAt) / 1000),
          sysroot: this.ctx.sysroot,
          clients: this.hooks.clients(),
          'active-transaction': this.activeTransaction(),
          'idle-exit-timeout': this.ctx.config.idleExitTimeout,
          'automatic-update-policy': this.ctx.config.automaticUpdatePolicy,
          'lock-layering': this.ctx.config.lockLayering,
          polkit: await this.hooks.polkitAvailable(),
        }),
      },
      properties: {
        Booted: () => (this.ctx.state.bootedOsname !== undefined ? osPath(this.ctx.state.bootedOsname) : NO_OBJECT),
        Path: () => this.ctx.sysroot,
        Deployments: () => this.ctx.state.deployments.map(encodeDeployment),
        ActiveTransaction: () => this.activeTransaction(),
        AutomaticUpdatePolicy: () => this.ctx.config.automaticUpdatePolicy,
      },
    }));
  }

  changed(names: string[] = ['Booted', 'Deployments', 'ActiveTransaction', 'AutomaticUpdatePolicy']): void {
    this.exported?.propertiesChanged(names);
  }
}
