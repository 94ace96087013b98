import { AptOstreeError } from '../lib/errors.js';
import { execute } from '../core/engine.js';
import type { ProgressSink } from '../core/progress.js';
import { isMutating, type Request, type RequestOf, type ResultOf } from '../core/requests.js';

/** How the client gets a request executed: in this process, or (issue 4) by apt-ostreed over D-Bus. */
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

export function chooseBackend(target: Target): Backend {
  return new InProcessBackend(target);
}
