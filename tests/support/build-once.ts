/**
 * Build-once directories for test fixtures (the test kit, the real-Debian base): a build goes into a temporary
 * sibling that is renamed into place when complete, so a crashed build is never reused, and an O_EXCL lock file
 * keeps two test processes from building the same thing at once (the second waits, then reuses the result).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno } from '../../src/core/compose/tree-fs.js';

export interface BuildOnceOptions {
  /** How long to wait for another process's build. */
  lockTimeoutMs: number;
  /** Said once while waiting for another builder. */
  onWait?: (holderPid: number) => void;
}

/**
 * Makes sure `dir` holds a complete build: `isComplete` judges an existing one, `build` fills a fresh temporary
 * directory (on the same file system) that then replaces `dir`.
 */
export async function ensureBuilt(
  dir: string,
  isComplete: (dir: string) => Promise<boolean>,
  build: (tmp: string) => Promise<void>,
  opts: BuildOnceOptions,
): Promise<void> {
  if (await isComplete(dir)) return;
  await mkdir(dirname(dir), { recursive: true });
  const release = await acquireLock(`${dir}.lock`, opts);
  try {
    if (await isComplete(dir)) return; // another process built it while we waited
    await removeCrashedBuilds(dir);
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

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true, maxRetries: 2 });
}

/** Every regular file under `dir`, sorted, for hashing a fixture's sources. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

/** Temporary directories of builds that crashed: safe to remove, since only the lock holder builds. */
async function removeCrashedBuilds(dir: string): Promise<void> {
  const prefix = `${basename(dir)}.tmp-`;
  for (const name of await readdir(dirname(dir))) {
    if (name.startsWith(prefix)) await removeTree(join(dirname(dir), name));
  }
}

async function acquireLock(lockPath: string, opts: BuildOnceOptions): Promise<() => Promise<void>> {
  const deadline = Date.now() + opts.lockTimeoutMs;
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
      await unlink(lockPath).catch(() => undefined); // the builder died: its lock is stale
      continue;
    }
    if (!announced) {
      opts.onWait?.(holder);
      announced = true;
    }
    if (Date.now() > deadline) throw new Error(`${lockPath} held by pid ${holder} for too long`);
    await new Promise((resolve) => setTimeout(resolve, 300));
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
