/**
 * The root layout of an ostree deployment: / and /usr are read-only, so every place people or packages write to
 * (home directories, /opt, /srv, /usr/local, ...) is a symlink into /var, which persists across deployments.
 * What the image had there moves into /var and so becomes tmpfiles.d lines later; the directories themselves are
 * declared by the contract's tmpfiles.d file, like rpm-ostree does.
 */
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EMPTY_MOUNT_POINTS, TOPLEVEL_LINKS } from './contract-paths.js';
import { emptyDirectory, lstatOrNull, moveMerging, replaceWithSymlink } from './tree-fs.js';

export async function applyToplevelLayout(root: string): Promise<void> {
  for (const link of TOPLEVEL_LINKS) {
    const path = join(root, link.path);
    const st = await lstatOrNull(path);
    // The /var directories themselves come from the contract's tmpfiles.d lines, so only content is moved.
    if (st?.isDirectory() && link.dir?.keepContent === true) await moveMerging(path, join(root, link.dir.path));
    await replaceWithSymlink(path, link.target);
  }
  for (const dir of EMPTY_MOUNT_POINTS) {
    const st = await lstatOrNull(join(root, dir));
    if (st && !st.isDirectory()) await rm(join(root, dir), { force: true });
    await emptyDirectory(join(root, dir));
  }
  // Directories are never hardlinked, so changing their mode is safe even on a hardlinked checkout.
  await chmod(join(root, 'tmp'), 0o1777);
}
