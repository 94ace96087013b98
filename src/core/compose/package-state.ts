/**
 * Package state that Debian keeps in /var but that describes the installed packages (debconf answers, ucf's
 * conffile hashes, deb-systemd-helper's enable records, /etc/shells registrations, pam-auth-update's choices).
 * It has to change together with the dpkg database, on upgrade and on rollback, so it travels in /usr:
 *
 *   /var/<path>  →  /usr/share/apt-ostree/state/var/<path>   plus   `L /var/<path> - - - - /usr/share/…/var/<path>`
 *
 * A symlink, not a copy: a tmpfiles `C` copy is made once and would then go stale on every upgrade. The state is
 * read-only on a booted system, exactly like the dpkg database; only apt-ostree (with a writable tree) changes it.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_STATE_ROOT } from './contract-paths.js';
import { expandGlob, lstatOrNull, moveMerging, unlinkIfPresent } from './tree-fs.js';

export interface PackageStateReport {
  /** Absolute /var paths moved into /usr by this run. */
  moved: string[];
  /** Absolute /var paths whose state is in /usr (moved now or earlier): each gets a tmpfiles.d symlink. */
  linked: string[];
}

/** Secrets and backups that must not be kept with the state. */
const STATE_FILES_TO_DROP = ['var/cache/debconf/passwords.dat'];

/** Tree-relative location of /var/<rel> in /usr. */
export function packageStateLocation(varRelative: string): string {
  return `${PACKAGE_STATE_ROOT}/${varRelative}`;
}

/**
 * Moves the state named by `patterns` (tree-relative, `var/...`, a `*` allowed in the last component) into /usr.
 * Entries of /var that are already symlinks (a layered tree where tmpfiles recreated them) stay; a real directory
 * in /var replaces the /usr copy, since it is the result of the latest dpkg run.
 */
export async function movePackageStateIntoUsr(root: string, patterns: readonly string[]): Promise<PackageStateReport> {
  const moved: string[] = [];
  for (const rel of STATE_FILES_TO_DROP) await unlinkIfPresent(join(root, rel));
  for (const pattern of patterns) {
    for (const rel of await expandGlob(root, pattern)) {
      const st = await lstatOrNull(join(root, rel));
      if (!st || st.isSymbolicLink()) continue;
      await removeBackups(join(root, rel));
      await moveMerging(join(root, rel), join(root, packageStateLocation(rel)));
      moved.push(`/${rel}`);
    }
  }
  const linked: string[] = [];
  for (const pattern of patterns) {
    for (const rel of await expandGlob(join(root, PACKAGE_STATE_ROOT), pattern)) linked.push(`/${rel}`);
  }
  return { moved, linked: [...new Set(linked)].sort() };
}

/** debconf and ucf keep `*-old` copies next to their databases; they are not state. */
async function removeBackups(path: string): Promise<void> {
  const st = await lstatOrNull(path);
  if (!st?.isDirectory()) return;
  for (const name of await readdir(path)) {
    if (name.endsWith('-old')) await rm(join(path, name), { recursive: true, force: true });
  }
}
