/**
 * The kit is built once and reused by every test run until its sources (or the host programs it copies) change:
 * the cache key is a hash of them. A build goes into a temporary sibling directory that is renamed into place
 * when complete, so a crashed build is never reused, and an O_EXCL lock file keeps two test processes from building
 * at the same time (the second waits and then reuses the first one's result).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isErrno } from '../../src/core/compose/tree-fs.js';

const KIT_SOURCE_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(KIT_SOURCE_DIR, '../..');
/** Sources whose change changes what the kit builds. */
const HASHED_DIRS = ['tests/kit', 'src/core/compose'];
/** Host programs the kit copies or whose output format it depends on. */
const HOST_FINGERPRINT_FILES = ['/bin/busybox', '/usr/bin/dpkg', '/usr/sbin/useradd', '/usr/bin/ostree', '/usr/bin/apt-ftparchive'];

export const DEFAULT_CACHE_ROOT = '/var/tmp/apt-ostree-kit';
const LOCK_TIMEOUT_MS = 10 * 60 * 1000;

export async function kitSourceHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of HASHED_DIRS) {
    for (const file of await listFiles(join(REPO_ROOT, dir))) {
      hash.update(`${relative(REPO_ROOT, file)}\0`);
      hash.update(await readFile(file));
      hash.update('\0');
    }
  }
  for (const file of HOST_FINGERPRINT_FILES) {
    try {
      const st = await stat(file);
      hash.update(`${file}:${st.size}:${st.mtimeMs}\0`);
    } catch {
      hash.update(`${file}:absent\0`);
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

/** Where the kit lives: $APT_OSTREE_KIT_DIR exactly, or <cache root>/<hash>. */
export function kitDirectory(hash: string): string {
  return process.env.APT_OSTREE_KIT_DIR ?? join(DEFAULT_CACHE_ROOT, hash);
}

/**
 * Makes sure `dir` holds a complete, current build: `isComplete` judges an existing one (a manifest with the right
 * hash), `build` fills a fresh directory.
 */
export async function ensureBuilt(
  dir: string,
  isComplete: (dir: string) => Promise<boolean>,
  build: (dir: string) => Promise<void>,
): Promise<void> {
  if (await isComplete(dir)) return;
  await mkdir(dirname(dir), { recursive: true });
  const release = await acquireLock(`${dir}.lock`);
  try {
    if (await isComplete(dir)) return; // another process built it while we waited
    await removeStaleBuilds(dir);
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(tmp);
    try {
      await build(tmp);
      // An outdated kit at the override path (different hash) is replaced.
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  } finally {
    await release();
  }
}

/** Kits unused for this long are removed from the default cache root when a new one is built. */
const UNUSED_KIT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** Marks a kit as used now (its manifest's mtime), so pruning keeps it. */
export async function touchKit(manifestPath: string): Promise<void> {
  const now = new Date();
  await utimes(manifestPath, now, now).catch(() => undefined);
}

/** Removes sibling kits of `dir` (other hashes) unused for a week, so source changes do not pile up builds. */
export async function pruneUnusedKits(dir: string, manifestName: string): Promise<void> {
  if (process.env.APT_OSTREE_KIT_DIR !== undefined) return;
  const root = dirname(dir);
  for (const name of await readdir(root)) {
    if (!/^[0-9a-f]{16}$/.test(name) || join(root, name) === dir) continue;
    const st = await stat(join(root, name, manifestName)).catch(() => null);
    if (st && Date.now() - st.mtimeMs > UNUSED_KIT_MAX_AGE_MS) await rm(join(root, name), { recursive: true, force: true });
  }
}

/** Leftovers of builds that crashed: safe to remove, since only the lock holder builds. */
async function removeStaleBuilds(dir: string): Promise<void> {
  const prefix = `${basename(dir)}.tmp-`;
  for (const name of await readdir(dirname(dir))) {
    if (name.startsWith(prefix)) await rm(join(dirname(dir), name), { recursive: true, force: true });
  }
}

async function acquireLock(lockPath: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
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
      // The builder died: its lock is stale.
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`kit: ${lockPath} held by pid ${holder} for too long`);
    await new Promise((resolve) => setTimeout(resolve, 200));
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
