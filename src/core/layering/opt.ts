/**
 * Packages that install under /opt (rpm-ostree #233). On an ostree system /opt is a symlink to var/opt, so dpkg
 * unpacks such a package into the tree's /var. Left there, the files would become tmpfiles.d `C` lines: copied
 * once into the machine's /var and never updated again (an upgraded package keeps its old files, a removed one
 * leaves them behind), and the package's files would not be read-only.
 *
 * So, like rpm-ostree, each directory a layered package creates directly under /opt moves into the commit at
 * /usr/lib/opt/<name>, and a tmpfiles.d line links /var/opt/<name> to it. /opt/<name> then resolves through
 * var/opt into /usr: versioned with the deployment, updated and rolled back with it, read-only like the rest of
 * /usr (software that writes into its own /opt directory at run time needs a writable path configured instead).
 * `L` does not replace what already exists, so an admin's /var/opt/<name> is never deleted. Files a layered
 * package adds into a directory under /opt that the base already has stay ordinary /var content.
 */
import { join } from 'node:path';
import { formatTmpfilesLine } from '../compose/tmpfiles.js';
import { moveMerging, readdirOrEmpty, unlinkIfPresent, writeFileByRename } from '../compose/tree-fs.js';

export const OPT_IN_USR = 'usr/lib/opt';
export const OPT_TMPFILES = 'usr/lib/tmpfiles.d/apt-ostree-opt.conf';

/** The names in the tree's /var/opt, taken before dpkg runs (after /var was recreated from tmpfiles.d). */
export function listVarOpt(tree: string): Promise<string[]> {
  return readdirOrEmpty(join(tree, 'var/opt'));
}

/** Moves what dpkg added directly under /opt into /usr/lib/opt and links it back; returns the names moved. */
export async function moveLayeredOptIntoUsr(tree: string, before: readonly string[]): Promise<string[]> {
  const existed = new Set(before);
  const added = (await listVarOpt(tree)).filter((name) => !existed.has(name));
  for (const name of added) await moveMerging(join(tree, 'var/opt', name), join(tree, OPT_IN_USR, name));
  if (added.length === 0) {
    await unlinkIfPresent(join(tree, OPT_TMPFILES));
    return [];
  }
  const text = [
    '# Written by apt-ostree: /opt content of layered packages lives read-only in /usr/lib/opt.',
    ...added.map((name) => formatTmpfilesLine({ type: 'L', path: `/var/opt/${name}`, argument: `/${OPT_IN_USR}/${name}` })),
    '',
  ].join('\n');
  await writeFileByRename(join(tree, OPT_TMPFILES), text);
  return added;
}
