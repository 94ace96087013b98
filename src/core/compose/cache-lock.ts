/**
 * An exclusive lock on a file of a compose cache directory, for the parts of it that only one compose at a time
 * may use (the resolution's apt lists and sources). flock(1) (util-linux, Essential) takes the lock, waiting for
 * another holder, and keeps it while its child reads our pipe: when we release it, or die, the pipe closes and the
 * kernel drops the lock with the process, so a crash never leaves a stale lock.
 */
import { spawn } from 'node:child_process';
import { AptOstreeError } from '../../lib/errors.js';

export interface FileLockOptions {
  /** Said once when another process holds the lock and we wait. */
  onWait?: (() => void) | undefined;
  /** Default 30 minutes. */
  timeoutSeconds?: number;
  signal?: AbortSignal | undefined;
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const aborted = (): boolean => opts.signal?.aborted === true;
  if (aborted()) throw cancelled();
  const timeout = opts.timeoutSeconds ?? 1800;
  const child = spawn('flock', ['--exclusive', '--timeout', String(timeout), path, 'sh', '-c', 'echo LOCKED && exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  // A holder that died early must not turn our closing of its pipe into an unhandled EPIPE.
  child.stdin.on('error', () => undefined);
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => { resolve(); });
    child.once('error', () => { resolve(); });
  });
  const waiting = setTimeout(() => { opts.onWait?.(); }, 1000);
  const onAbort = (): void => { child.kill('SIGTERM'); };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const answer = await new Promise<string>((resolve) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
      child.on('error', (e) => { resolve(`ERROR ${e.message}`); });
      child.on('exit', (code) => { resolve(`ERROR ${err.trim() || `flock exited with status ${String(code)}`}`); });
    });
    clearTimeout(waiting);
    if (aborted()) throw cancelled();
    if (answer !== 'LOCKED') {
      throw new AptOstreeError('compose-failed', `could not lock ${path}: ${answer.replace(/^ERROR /, '')}`,
        `another compose with the same cache directory may be stuck; its lock is ${path}`);
    }
    return await fn();
  } finally {
    clearTimeout(waiting);
    opts.signal?.removeEventListener('abort', onAbort);
    child.stdin.end();
    await gone;
  }
}

function cancelled(): AptOstreeError {
  return new AptOstreeError('cancelled', 'the operation was cancelled', 'nothing was changed; run the command again when ready');
}
