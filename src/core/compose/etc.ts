/**
 * /etc → /usr/etc: the commit carries the image's default configuration in /usr/etc and ostree builds each
 * deployment's /etc from it with a 3-way merge. Identity that postinsts generate (machine-id, SSH host keys) is
 * removed, so every machine makes its own on first boot.
 */
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { MACHINE_SECRET_GLOBS } from './contract-paths.js';
import { expandGlob, lstatOrNull, moveMerging, unlinkIfPresent, writeFileByRename } from './tree-fs.js';

export async function moveEtcToUsrEtc(root: string): Promise<void> {
  const etc = await lstatOrNull(join(root, 'etc'));
  const usrEtc = await lstatOrNull(join(root, 'usr/etc'));
  if (etc?.isDirectory()) {
    const empty = (await readdir(join(root, 'etc'))).length === 0;
    if (usrEtc && !empty) {
      throw new AptOstreeError('invalid-rootfs', `${root} has both /etc and /usr/etc`,
        'ostree refuses such a tree: keep the configuration in one of them');
    }
    // An empty /etc next to /usr/etc is the mount point a sandbox left behind.
    if (empty && usrEtc) await rmdir(join(root, 'etc'));
    else await moveMerging(join(root, 'etc'), join(root, 'usr/etc'));
  } else if (etc) {
    throw new AptOstreeError('invalid-rootfs', `${root}/etc is not a directory`, 'an image root needs a real /etc');
  } else if (!usrEtc) {
    throw new AptOstreeError('invalid-rootfs', `${root} has no /etc`, 'is this the root of a Debian installation?');
  }
}

/** Empties /usr/etc/machine-id (systemd then generates one at first boot) and removes host keys; returns them. */
export async function removeMachineIdentity(root: string): Promise<string[]> {
  const removed: string[] = [];
  for (const pattern of MACHINE_SECRET_GLOBS) {
    for (const rel of await expandGlob(root, pattern)) {
      if (await unlinkIfPresent(join(root, rel))) removed.push(`/${rel}`);
    }
  }
  const machineId = join(root, 'usr/etc/machine-id');
  const st = await lstatOrNull(machineId);
  if (!st?.isFile() || st.size > 0) await writeFileByRename(machineId, '', 0o444);
  return removed;
}
