import { AptOstreeError } from '../lib/errors.js';
import { execute } from '../core/engine.js';
import type { ProgressSink } from '../core/progress.js';
import { isMutating, type Request, type RequestOf, type ResultOf } from '../core/requests.js';
import { isDaemonUnreachable } from '../dbus/errors.js';
import { DaemonBackend, DaemonClient } from './backend-dbus.js';

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
 * APT_OSTREE_NO_DAEMON=1 force in-process.
 */
export async function chooseBackend(target: Target, req: Request, opts: ChooseOptions = {}): Promise<Backend> {
  if (daemonDisabled(opts)) return new InProcessBackend(target);
  try {
    return new DaemonBackend(await DaemonClient.connect(target));
  } catch (err) {
    if (!isDaemonUnreachable(err)) throw err;
  }
  if (!isMutating(req)) return new InProcessBackend(target);
  const root = opts.isRoot ?? process.getuid?.() === 0;
  if (!root) {
    throw new AptOstreeError('not-root', `apt-ostreed is not reachable, and ${req.kind} changes the system: it needs the daemon or root`,
      'start apt-ostreed (systemctl start apt-ostreed), or run the command as root');
  }
  (opts.notice ?? ((line: string) => { process.stderr.write(`${line}\n`); }))(FALLBACK_NOTICE);
  return new InProcessBackend(target);
}
