import { resolve } from 'node:path';
import { connectBus, type Bus, type CallContext, type Subscription } from '../dbus/bus.js';
import { BUS_NAME } from '../dbus/names.js';
import { assertIsSysroot } from '../core/sysroot/sysroot.js';
import { AptOstreeError } from '../lib/errors.js';
import { Authorizer } from './authorization.js';
import { configPath, loadConfig, type DaemonConfig } from './config.js';
import type { DaemonContext, SysrootSnapshot } from './context.js';
import { IdleExit } from './idle-exit.js';
import { log } from './log.js';
import { OsObject } from './os-object.js';
import { cleanStaleState } from './stale-state.js';
import { SysrootObject, readSysroot } from './sysroot-object.js';
import { TransactionQueue } from './transaction-queue.js';

export interface DaemonOptions {
  sysroot: string;
  /** system, session, or a bus address. */
  bus: string;
  /** Overrides IdleExitTimeout of the configuration file. */
  idleExit?: number | undefined;
}

/** apt-ostreed: owns the bus name, serves the Sysroot, OS and Transaction objects, exits when idle. */
export class Daemon implements DaemonContext {
  readonly sysroot: string;
  state: SysrootSnapshot = { deployments: [], osnames: [], bootedOsname: undefined, cachedUpdates: {} };
  config!: DaemonConfig;
  queue!: TransactionQueue;
  authorizer!: Authorizer;
  private sysrootObject!: SysrootObject;
  private readonly osObjects = new Map<string, OsObject>();
  private readonly clients = new Map<string, { description: string; watch: Subscription | undefined }>();
  private idle!: IdleExit;
  private exitResolve: (() => void) | undefined;

  private constructor(readonly bus: Bus, private readonly opts: DaemonOptions) {
    this.sysroot = resolve(opts.sysroot);
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    await assertIsSysroot(resolve(opts.sysroot));
    const config = await loadConfig();
    // Started by bus activation: the bus that started us is the one to serve.
    const starter = process.env.DBUS_STARTER_BUS_TYPE === 'system' ? process.env.DBUS_STARTER_ADDRESS : undefined;
    const bus = await connectBus(opts.bus === 'system' && starter ? starter : opts.bus, { timeoutMs: 10_000 });
    const d = new Daemon(bus, opts);
    d.config = config;
    d.authorizer = new Authorizer(bus);
    d.queue = new TransactionQueue({
      bus, authorizer: d.authorizer, sysroot: d.sysroot,
      lingerSeconds: Number(process.env.APT_OSTREED_TRANSACTION_LINGER ?? 60),
      orphanGraceSeconds: Number(process.env.APT_OSTREED_ORPHAN_GRACE ?? 10),
      onActiveChanged: () => {
        d.sysrootObject.changed(['ActiveTransaction']);
        d.idle.poke();
      },
      // Whatever the transaction did, the sysroot (deployments, origins, the recorded update) may have changed.
      beforeFinished: () => d.reload(),
    });
    d.idle = new IdleExit(opts.idleExit ?? config.idleExitTimeout, () => d.busy(), () => {
      log('idle', `no client and no transaction for ${opts.idleExit ?? d.config.idleExitTimeout} s: exiting`);
      void d.stop();
    });
    d.state = await readSysroot(d.sysroot);
    try {
      await cleanStaleState(d.sysroot, d.state.osnames);
    } catch (err) {
      log('startup', `could not remove stale state: ${(err as Error).message}`);
    }
    d.sysrootObject = new SysrootObject(d, {
      reload: () => d.reload(),
      reloadConfig: async () => {
        d.config = await loadConfig();
        d.idle.setTimeout(d.opts.idleExit ?? d.config.idleExitTimeout);
        log('config', `re-read ${configPath()}`);
        await d.reload();
      },
      registerClient: (call, id) => d.registerClient(call, id),
      unregisterClient: (call) => { d.unregisterClient(call.sender); },
      clients: () => [...d.clients.values()].map((c) => c.description),
      polkitAvailable: () => d.authorizer.polkitAvailable(),
    });
    d.sysrootObject.export();
    d.syncOsObjects();
    const owned = await bus.requestName(BUS_NAME, { doNotQueue: true });
    if (owned !== 'primary-owner' && owned !== 'already-owner') {
      await bus.close();
      throw new AptOstreeError('internal', `${BUS_NAME} is already owned on this bus`, 'is another apt-ostreed running?');
    }
    bus.onClose(() => {
      log('bus', 'connection to the bus closed: exiting');
      void d.stop();
    });
    log('started', `pid ${process.pid}, sysroot ${d.sysroot}, bus ${opts.bus}, idle exit ${opts.idleExit ?? config.idleExitTimeout} s`);
    d.idle.poke();
    return d;
  }

  /** Resolves when the daemon stopped. */
  stopped(): Promise<void> {
    return new Promise((r) => { this.exitResolve = r; });
  }

  private stopping = false;

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.idle.stop();
    await this.queue.cancelActive('the daemon is stopping');
    try {
      if (!this.bus.isClosed) await this.bus.close();
    } catch { /* closing anyway */ }
    log('stopped');
    this.exitResolve?.();
  }

  describeCaller(call: CallContext): string {
    const c = this.clients.get(call.sender);
    return `${c?.description ?? call.sender} (uid ${call.uid})`;
  }

  private busy(): boolean {
    return this.clients.size > 0 || this.queue.active !== undefined;
  }

  private async registerClient(call: CallContext, id: string | undefined): Promise<void> {
    const description = id !== undefined && id !== '' ? id : call.sender;
    const existing = this.clients.get(call.sender);
    if (existing) {
      existing.description = description;
      return;
    }
    const entry: { description: string; watch: Subscription | undefined } = { description, watch: undefined };
    this.clients.set(call.sender, entry);
    log('client', `${description} (${call.sender}, uid ${call.uid}) registered`);
    entry.watch = await this.bus.onNameVanished(call.sender, () => { this.unregisterClient(call.sender); });
    this.idle.poke();
  }

  private unregisterClient(sender: string): void {
    const c = this.clients.get(sender);
    if (!c) return;
    this.clients.delete(sender);
    void c.watch?.remove();
    log('client', `${c.description} (${sender}) left`);
    this.idle.poke();
  }

  async reload(): Promise<void> {
    this.state = await readSysroot(this.sysroot);
    this.syncOsObjects();
    this.sysrootObject.changed();
    for (const os of this.osObjects.values()) os.changed();
  }

  private syncOsObjects(): void {
    for (const name of this.state.osnames) {
      if (this.osObjects.has(name)) continue;
      const os = new OsObject(this, name);
      os.export();
      this.osObjects.set(name, os);
    }
    for (const [name, os] of this.osObjects) {
      if (this.state.osnames.includes(name)) continue;
      os.unexport();
      this.osObjects.delete(name);
    }
  }

}
