/**
 * Build-once directories for the real-Debian suite: a build goes into a temporary sibling that is renamed into
 * place when complete (a crashed build is never reused), and an O_EXCL lock file keeps two test processes from
 * building the same thing at once (the second waits, then reuses the first one's result). Same scheme as the
 * test kit's cache (tests/kit/cache.ts), kept separate so the two suites do not depend on each other.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { isErrno } from '../../src/core/compose/tree-fs.js';

const LOCK_TIMEOUT_MS = 20 * 60 * 1000;

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

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

/**
 * Makes sure `dir` holds a complete build: `isComplete` judges an existing one, `build` fills a fresh temporary
 * directory (on the same file system) that then replaces `dir`.
 */
export async function ensureBuilt(
  dir: string,
  isComplete: (dir: string) => Promise<boolean>,
  build: (tmp: string) => Promise<void>,
): Promise<void> {
  if (await isComplete(dir)) return;
  await mkdir(dirname(dir), { recursive: true });
  const release = await acquireLock(`${dir}.lock`);
  try {
    if (await isComplete(dir)) return;
    await removeLeftovers(dir);
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(tmp);
    try {
      await build(tmp);
      await removeTree(dir);
      await rename(tmp, dir);
    } catch (err) {
      await removeTree(tmp);
      throw err;
    }
  } finally {
    await release();
  }
}

/** rm -rf that also copes with what a root filesystem build leaves (read-only directories). */
export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true, maxRetries: 2 });
}

/** Temporary directories of builds that crashed: safe to remove, since only the lock holder builds. */
async function removeLeftovers(dir: string): Promise<void> {
  const prefix = `${basename(dir)}.tmp-`;
  for (const name of await readdir(dirname(dir))) {
    if (name.startsWith(prefix)) await removeTree(join(dirname(dir), name));
  }
}

async function acquireLock(lockPath: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  let announced = false;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => { await unlink(lockPath).catch(() => undefined); };
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (!Number.isNaN(holder) && holder !== process.pid && !processAlive(holder)) {
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (!announced) {
      process.stderr.write(`debian-base: waiting for pid ${holder} that builds ${basename(lockPath, '.lock')}\n`);
      announced = true;
    }
    if (Date.now() > deadline) throw new Error(`${lockPath} held by pid ${holder} for too long`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
