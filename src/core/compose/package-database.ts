/**
 * The dpkg database and apt's extended_states move into /usr, so each deployment carries the exact record of what
 * it contains, read-only, and a rollback rolls it back too (rpm-ostree does the same with /usr/share/rpm).
 * An apt.conf.d snippet points apt, and through DPkg::Options the dpkg it runs, at the new places.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { abs, APT_CONF_SNIPPET, APT_EXTENDED_STATES, DPKG_DATABASE } from './contract-paths.js';
import { lstatOrNull, moveMerging, unlinkIfPresent, writeFileByRename } from './tree-fs.js';

/** Files of a dpkg database that only matter while dpkg runs (locks) or are backups of the previous run. */
const TRANSIENT_DATABASE_FILES = ['lock', 'lock-frontend', 'triggers/Lock'];

export async function moveDpkgDatabaseIntoUsr(root: string): Promise<void> {
  const legacy = join(root, 'var/lib/dpkg');
  const target = join(root, DPKG_DATABASE);
  const legacyStat = await lstatOrNull(legacy);
  const targetStat = await lstatOrNull(target);
  if (legacyStat?.isDirectory()) {
    if (targetStat) {
      throw new AptOstreeError('invalid-rootfs', `${root} has a dpkg database both in /var/lib/dpkg and in ${abs(DPKG_DATABASE)}`,
        'remove the stale one; the base image contract keeps only the one in /usr');
    }
    await moveMerging(legacy, target);
  } else if (!targetStat?.isDirectory()) {
    throw new AptOstreeError('no-package-database', `${root} has no dpkg database (${abs('var/lib/dpkg')}/status)`,
      'build the image root with dpkg (mmdebstrap, debootstrap): apt-ostree needs to know what is installed');
  }
  if (!(await lstatOrNull(join(target, 'status')))?.isFile()) {
    throw new AptOstreeError('no-package-database', `${abs(DPKG_DATABASE)}/status is missing in ${root}`,
      'the dpkg database is incomplete; rebuild the image root');
  }
  for (const rel of TRANSIENT_DATABASE_FILES) await unlinkIfPresent(join(target, rel));
  for (const name of await readdir(target)) {
    if (name.endsWith('-old')) await rm(join(target, name), { force: true });
  }
}

/** Moves apt's extended_states into /usr, or creates an empty one (valid for apt) when apt never wrote it. */
export async function moveAptExtendedStatesIntoUsr(root: string): Promise<void> {
  const legacy = join(root, 'var/lib/apt/extended_states');
  const target = join(root, APT_EXTENDED_STATES);
  if ((await lstatOrNull(legacy))?.isFile()) await moveMerging(legacy, target);
  if (!(await lstatOrNull(target))) await writeFileByRename(target, '');
}

export const APT_CONF_SNIPPET_TEXT = [
  '// Written by apt-ostree (base image contract). The package state lives in the read-only /usr of each',
  '// deployment; apt-ostree changes it by building a new deployment, never in place.',
  `Dir::State::status "${abs(DPKG_DATABASE)}/status";`,
  `Dir::State::extended_states "${abs(APT_EXTENDED_STATES)}";`,
  `DPkg::Options:: "--admindir=${abs(DPKG_DATABASE)}";`,
  '',
].join('\n');

export async function writeAptConfSnippet(root: string): Promise<void> {
  await writeFileByRename(join(root, APT_CONF_SNIPPET), APT_CONF_SNIPPET_TEXT);
}
