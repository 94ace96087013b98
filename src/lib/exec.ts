import { spawn } from 'node:child_process';
import { AptOstreeError, oneLine } from './errors.js';

/** Commands are argv arrays, never shell strings: user input can not reach a shell. */
export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  signal?: AbortSignal;
  /** Stream the child's stderr lines to this callback (progress from ostree, apt, dpkg). */
  onStderrLine?: (line: string) => void;
  onStdoutLine?: (line: string) => void;
  /** Exit codes that count as success; default [0]. */
  okCodes?: readonly number[];
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class ExecError extends AptOstreeError {
  readonly result: ExecResult;
  readonly argv: readonly string[];

  constructor(argv: readonly string[], result: ExecResult) {
    const detail = oneLine(result.stderr.trim() || result.stdout.trim()).slice(0, 600);
    super('command-failed', `${argv[0] ?? '?'} exited with status ${result.code}${detail ? `: ${detail}` : ''}`,
      `the command was: ${argv.join(' ')}`);
    this.result = result;
    this.argv = argv;
  }
}

function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let pending = '';
  return (chunk: string) => {
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      onLine(pending.slice(0, nl).replace(/\r$/, ''));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  };
}

/** Runs argv and resolves with its output; a non-zero status (or spawn failure) rejects with ExecError. */
export async function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const result = await runUnchecked(argv, opts);
  if (!(opts.okCodes ?? [0]).includes(result.code)) throw new ExecError(argv, result);
  return result;
}

/** Runs argv and resolves with its output whatever the exit status. */
export function runUnchecked(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new AptOstreeError('internal', 'empty command line');
  if (opts.signal?.aborted) return Promise.reject(cancelledError());
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // A process group of its own so that cancelling stops the tool and everything it started.
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const onOut = opts.onStdoutLine ? lineSplitter(opts.onStdoutLine) : undefined;
    const onErr = opts.onStderrLine ? lineSplitter(opts.onStderrLine) : undefined;
    child.stdout.on('data', (b: Buffer) => { out.push(b); onOut?.(b.toString('utf8')); });
    child.stderr.on('data', (b: Buffer) => { err.push(b); onErr?.(b.toString('utf8')); });
    let aborted = false;
    const abort = (): void => {
      aborted = true;
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => { killGroup(child.pid, 'SIGKILL'); }, 3000).unref();
    };
    opts.signal?.addEventListener('abort', abort, { once: true });
    if (child.pid !== undefined) runningGroups.add(child.pid);
    child.on('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', abort);
      if (child.pid !== undefined) runningGroups.delete(child.pid);
      if (e.code === 'ENOENT') {
        reject(new AptOstreeError('tool-missing', `${file} is not installed`, `install the Debian package that provides ${file}`));
      } else {
        reject(e);
      }
    });
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', abort);
      if (child.pid !== undefined) runningGroups.delete(child.pid);
      if (aborted) { reject(cancelledError()); return; }
      resolve({
        code: code ?? (signal ? 128 + signalNumber(signal) : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => { /* the child may exit without reading its input */ });
    child.stdin.end(opts.input ?? '');
  });
}

/** Children run in process groups of their own; when we exit, they must not outlive us. */
const runningGroups = new Set<number>();
process.once('exit', () => { for (const pid of runningGroups) killGroup(pid, 'SIGKILL'); });

function cancelledError(): AptOstreeError {
  return new AptOstreeError('cancelled', 'the operation was cancelled', 'nothing was changed; run the command again when ready');
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 1;
}
