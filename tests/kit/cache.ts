/**
 * The kit is built once and reused by every test run until its sources (or the host programs it copies) change:
 * the cache key is a hash of them. A build goes into a temporary sibling directory that is renamed into place
 * when complete, so a crashed build is never reused, and an O_EXCL lock file keeps two test processes from building
 * at the same time (the second waits and then reuses the first one's result).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt as ensureBuiltOnce, listFiles } from '../support/build-once.js';

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


/** Where the kit lives: $APT_OSTREE_KIT_DIR exactly, or <cache root>/<hash>. */
export function kitDirectory(hash: string): string {
  return process.env.APT_OSTREE_KIT_DIR ?? join(DEFAULT_CACHE_ROOT, hash);
}

/** The shared build-once scheme (tests/support/build-once.ts) with the kit's patience. */
export function ensureBuilt(
  dir: string,
  isComplete: (dir: string) => Promise<boolean>,
  build: (dir: string) => Promise<void>,
): Promise<void> {
  return ensureBuiltOnce(dir, isComplete, build, { lockTimeoutMs: LOCK_TIMEOUT_MS });
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
