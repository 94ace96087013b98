import type { Command } from 'commander';
import { AptOstreeError } from '../lib/errors.js';
import type { Request, RequestOf, ResultOf } from '../core/requests.js';
import { isDaemonUnreachable } from '../dbus/errors.js';
import { chooseBackend, daemonDisabled, type Backend, type Target } from './backend.js';
import { DaemonClient } from './backend-dbus.js';
import { progressRenderer } from './render/progress.js';

export interface GlobalOptions {
  sysroot?: string;
  os?: string;
  quiet?: boolean;
  /** commander's name for --no-daemon: false when given. */
  daemon?: boolean;
}

/** What every command file gets: the chosen backend, output helpers, and Ctrl-C handling. */
export class Cli {
  constructor(private readonly program: Command, readonly stdout: NodeJS.WriteStream = process.stdout) {}

  globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  target(): Target {
    const g = this.globals();
    return { sysroot: g.sysroot ?? process.env.APT_OSTREE_SYSROOT ?? '/', osname: g.os };
  }

  get noDaemon(): boolean {
    return daemonDisabled({ noDaemon: this.globals().daemon === false });
  }

  backend(req: Request): Promise<Backend> {
    return chooseBackend(this.target(), req, { noDaemon: this.noDaemon });
  }

  /** A progress sink on stderr (silent with --quiet or --json). */
  progress(opts: { json?: boolean } = {}): ReturnType<typeof progressRenderer> {
    return progressRenderer(process.stderr, (this.globals().quiet ?? false) || (opts.json ?? false));
  }

  /** Runs fn with Ctrl-C (and SIGTERM) turned into an AbortSignal instead of killing us halfway. */
  async interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const onSigint = (): void => { controller.abort(); };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      return await fn(controller.signal);
    } finally {
      process.removeListener('SIGINT', onSigint);
      process.removeListener('SIGTERM', onSigint);
    }
  }

  /** Runs a request with progress on stderr; Ctrl-C cancels it (in-process, or the daemon's transaction). */
  async run<K extends Request['kind']>(req: RequestOf<K>, opts: { json?: boolean } = {}): Promise<ResultOf[K]> {
    const progress = this.progress(opts);
    try {
      return await this.interruptible(async (signal) => (await this.backend(req)).run(req, progress, signal));
    } finally {
      progress.done();
    }
  }

  /** For the daemon's own commands (daemon-ping, cancel, …): a registered connection, closed afterwards. */
  async withDaemon<T>(what: string, fn: (client: DaemonClient) => Promise<T>): Promise<T> {
    if (this.noDaemon) {
      throw new AptOstreeError('usage', `${what} talks to apt-ostreed, and --no-daemon (or APT_OSTREE_NO_DAEMON=1) rules it out`,
        'drop --no-daemon');
    }
    let client: DaemonClient;
    try {
      client = await DaemonClient.connect(this.target());
    } catch (err) {
      if (!isDaemonUnreachable(err)) throw err;
      throw new AptOstreeError('command-failed', `apt-ostreed is not reachable: ${err instanceof Error ? err.message : String(err)}`,
        'start it (systemctl start apt-ostreed), or check DBUS_SYSTEM_BUS_ADDRESS');
    }
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  }

  print(text: string): void {
    this.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  }

  printJson(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

export function parseIndex(text: string, what = 'index'): number {
  if (!/^\d+$/.test(text)) {
    throw new AptOstreeError('invalid-index', `${what} must be a non-negative number, not '${text}'`,
      'see the indexes with `apt-ostree status`');
  }
  return Number(text);
}
