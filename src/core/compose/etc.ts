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

/**
 * Removes host keys and the machine-id; returns the removed paths. `empty` leaves an empty /usr/etc/machine-id
 * (rpm-ostree's machineid-compat: systemd fills in a transient id at boot, and a read-only /etc still boots);
 * `absent` leaves none, which systemd treats as the machine's first boot (ConditionFirstBoot units and presets run).
 */
export async function removeMachineIdentity(root: string, machineId: 'empty' | 'absent' = 'empty'): Promise<string[]> {
  const removed: string[] = [];
  for (const pattern of MACHINE_SECRET_GLOBS) {
    for (const rel of await expandGlob(root, pattern)) {
      if (await unlinkIfPresent(join(root, rel))) removed.push(`/${rel}`);
    }
  }
  const path = join(root, 'usr/etc/machine-id');
  if (machineId === 'absent') {
    await unlinkIfPresent(path);
    return removed;
  }
  const st = await lstatOrNull(path);
  if (!st?.isFile() || st.size > 0) await writeFileByRename(path, '', 0o444);
  return removed;
}
