/**
 * The last update an upgrade check found (automatic `check` policy, or `upgrade --check/--preview` as root), kept in
 * the stateroot's /var/cache/apt-ostree so that `status` shows it in any process, with or without the daemon, as
 * rpm-ostree's AvailableUpdate / `cached-update`.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PackageDiff } from './packages.js';

export interface CachedUpdate {
  osname: string;
  /** The refspec the update is on. */
  origin: string;
  checksum: string;
  version: string | null;
  timestamp: number;
  /** Seconds since the epoch. */
  'checked-at': number;
  /** Package changes against the current base, when the check looked at the new dpkg database. */
  diff: PackageDiff | null;
}

function cachedUpdateFile(sysrootPath: string, osname: string): string {
  return join(sysrootPath, 'ostree/deploy', osname, 'var/cache/apt-ostree/cached-update.json');
}

export async function readCachedUpdate(sysrootPath: string, osname: string): Promise<CachedUpdate | null> {
  try {
    const parsed = JSON.parse(await readFile(cachedUpdateFile(sysrootPath, osname), 'utf8')) as CachedUpdate;
    return typeof parsed.checksum === 'string' && parsed.osname === osname ? parsed : null;
  } catch {
    return null;
  }
}

/** Records an update found (or, with null, that there is none). */
export async function writeCachedUpdate(sysrootPath: string, osname: string, update: CachedUpdate | null): Promise<void> {
  const file = cachedUpdateFile(sysrootPath, osname);
  if (update === null) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(`${file}.tmp`, `${JSON.stringify(update)}\n`);
  await rename(`${file}.tmp`, file);
}
