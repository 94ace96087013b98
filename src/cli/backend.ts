import { AptOstreeError } from '../lib/errors.js';
import { execute } from '../core/engine.js';
import type { ProgressSink } from '../core/progress.js';
import { isMutating, type Request, type RequestOf, type ResultOf } from '../core/requests.js';
import { fromBusError, isDaemonUnreachable } from '../dbus/errors.js';
import { DaemonBackend, DaemonClient, type ConnectOptions } from './backend-dbus.js';

/** How the client gets a request executed: in this process, or by apt-ostreed over D-Bus (backend-dbus.ts). */
export interface Backend {
  readonly name: 'in-process' | 'daemon';
  run<K extends Request['kind']>(req: RequestOf<K>, progress: ProgressSink, signal: AbortSignal): Promise<ResultOf[K]>;
}

export interface Target {
  sysroot: string;
  osname: string | undefined;
}

export class InProcessBackend implements Backend {
  readonly name = 'in-process';

  constructor(private readonly target: Target) {}

  run<K extends Request['kind']>(req: RequestOf<K>, progress: ProgressSink, signal: AbortSignal): Promise<ResultOf[K]> {
    if (isMutating(req) && process.getuid?.() !== 0) {
      return Promise.reject(new AptOstreeError('not-root', `${req.kind} changes the system and needs root`,
        'run it with sudo, or through apt-ostreed (polkit decides)'));
    }
    return execute({ sysroot: this.target.sysroot, osname: this.target.osname, progress, signal }, req);
  }
}

export interface ChooseOptions {
  /** --no-daemon: always in-process. */
  noDaemon?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Where the fallback notice goes (stderr). */
  notice?: (line: string) => void;
  isRoot?: boolean;
  /** How to reach the daemon (tests): DaemonClient.connect. */
  connect?: (target: Target, opts: ConnectOptions) => Promise<DaemonClient>;
}

export const FALLBACK_NOTICE = 'note: apt-ostreed is not reachable; running in-process';

/** Whether the daemon is ruled out by --no-daemon or APT_OSTREE_NO_DAEMON=1. */
export function daemonDisabled(opts: ChooseOptions): boolean {
  const env = opts.env ?? process.env;
  return (opts.noDaemon ?? false) || env.APT_OSTREE_NO_DAEMON === '1';
}

/**
 * The executor for a request: apt-ostreed when the bus is reachable and its name is owned or activatable (a daemon
 * serving another sysroot is an error, never a reason to fall back); otherwise the in-process engine, which reads
 * for anybody and changes the system for root only (with a one-line notice on stderr); `--no-daemon` or
 * APT_OSTREE_NO_DAEMON=1 force in-process. An activatable daemon that does not start in time (DaemonClient.connect
 * waits for it) counts as unreachable, its request never having reached it; a change by another user then fails
 * with `daemon-unavailable`, which says where to look.
 */
export async function chooseBackend(target: Target, req: Request, opts: ChooseOptions = {}): Promise<Backend> {
  if (daemonDisabled(opts)) return new InProcessBackend(target);
  const notice = opts.notice ?? ((line: string) => { process.stderr.write(`${line}\n`); });
  let failedToStart: AptOstreeError | undefined;
  try {
    const connect = opts.connect ?? ((t: Target, o: ConnectOptions) => DaemonClient.connect(t, o));
    return new DaemonBackend(await connect(target, { notice }));
  } catch (err) {
    if (err instanceof AptOstreeError && err.code === 'daemon-unavailable') failedToStart = err;
    else if (!isDaemonUnreachable(err)) throw fromBusError(err);
  }
  if (!isMutating(req)) return new InProcessBackend(target);
  const root = opts.isRoot ?? process.getuid?.() === 0;
  if (!root) {
    if (failedToStart) {
      throw new AptOstreeError('daemon-unavailable', failedToStart.message,
        `${failedToStart.hint ?? 'see the daemon\'s log'}, or run the command as root`, { cause: failedToStart });
    }
    throw new AptOstreeError('not-root', `apt-ostreed is not reachable, and ${req.kind} changes the system: it needs the daemon or root`,
      'start apt-ostreed (systemctl start apt-ostreed), or run the command as root');
  }
  notice(FALLBACK_NOTICE);
  return new InProcessBackend(target);
}
