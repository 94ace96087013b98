/**
 * Build-once directories for the real-Debian suite: a build goes into a temporary sibling that is renamed into
 * place when complete (a crashed build is never reused), and an O_EXCL lock file keeps two test processes from
 * building the same thing at once (the second waits, then reuses the first one's result). Same scheme as the
 * test kit's cache: both use tests/support/build-once.ts.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ensureBuilt as ensureBuiltOnce, listFiles, removeTree } from '../support/build-once.js';

export { removeTree };

/** sha256 of a JSON value and of files (or every file under directories; relative to `base`), cut to 16 hex digits. */
export async function hashInputs(value: unknown, base: string, paths: readonly string[] = []): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(value));
  for (const path of paths) {
    const full = join(base, path);
    const files = (await stat(full)).isDirectory() ? await listFiles(full) : [full];
    for (const file of files) {
      hash.update(`\0${relative(base, file)}\0`);
      hash.update(await readFile(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}


/** The shared build-once scheme, with the real-Debian suite's patience (a cold build takes minutes). */
export function ensureBuilt(
  dir: string,
  isComplete: (dir: string) => Promise<boolean>,
  build: (tmp: string) => Promise<void>,
): Promise<void> {
  return ensureBuiltOnce(dir, isComplete, build, {
    lockTimeoutMs: 20 * 60 * 1000,
    onWait: (pid) => { process.stderr.write(`debian-base: waiting for pid ${pid} that builds ${dir}\n`); },
  });
}
