import type { Command } from 'commander';
import { AptOstreeError } from '../lib/errors.js';
import type { Request, RequestOf, ResultOf } from '../core/requests.js';
import { chooseBackend, type Backend } from './backend.js';
import { progressRenderer } from './render/progress.js';

export interface GlobalOptions {
  sysroot?: string;
  os?: string;
  quiet?: boolean;
}

/** What every command file gets: the chosen backend, output helpers, and Ctrl-C handling. */
export class Cli {
  constructor(private readonly program: Command, readonly stdout: NodeJS.WriteStream = process.stdout) {}

  globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  backend(): Backend {
    const g = this.globals();
    return chooseBackend({ sysroot: g.sysroot ?? process.env.APT_OSTREE_SYSROOT ?? '/', osname: g.os });
  }

  /** Runs a request with progress on stderr; Ctrl-C cancels it instead of killing us halfway. */
  async run<K extends Request['kind']>(req: RequestOf<K>, opts: { json?: boolean } = {}): Promise<ResultOf[K]> {
    const progress = progressRenderer(process.stderr, (this.globals().quiet ?? false) || (opts.json ?? false));
    const controller = new AbortController();
    const onSigint = (): void => { controller.abort(); };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      return await this.backend().run(req, progress, controller.signal);
    } finally {
      progress.done();
      process.removeListener('SIGINT', onSigint);
      process.removeListener('SIGTERM', onSigint);
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
