/**
 * The tree a layered commit is built in: a hardlinked checkout of the base (`ostree checkout -H`), which costs a
 * fraction of a second instead of copying the whole image. Its regular files and symlinks ARE the repository's
 * objects (same inodes), so anything dpkg or a maintainer script rewrites in place must first be replaced by a
 * private copy; otherwise the write lands in the repository and `ostree fsck` reports corruption. Everything
 * else is safe: dpkg extracts to `*.dpkg-new` and renames, and unlink/rename never touch an inode's content.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { run, runUnchecked } from '../../lib/exec.js';
import { IN_PLACE_WRITTEN_PATHS } from '../compose/contract-paths.js';
import { isErrno, lstatOrNull } from '../compose/tree-fs.js';

/** Work trees are named so that a crashed run's leftovers are recognisable (and removable) by name. */
export const WORK_TREE_PREFIX = 'apt-ostree-layer-';

/**
 * Written in place by tools that Debian maintainer scripts and triggers run, beyond the contract's
 * IN_PLACE_WRITTEN_PATHS (/usr/etc with ld.so.cache, shells and alternatives; the dpkg database with
 * update-alternatives' records; /usr/share/apt-ostree with debconf, ucf and deb-systemd-helper state):
 * - localedef --add-to-archive (locales' postinst, locale-gen) extends the archive through a writable mapping;
 * - install-info (the info-dir trigger) rewrites the dir file with fopen("w"), which truncates the same inode.
 * Other caches (icon themes, GIO modules, MIME, depmod, ldconfig) are written to a temporary file and renamed.
 */
export const EXTRA_IN_PLACE_WRITTEN_PATHS: readonly string[] = [
  'usr/lib/locale/locale-archive',
  'usr/share/info/dir',
];

export const LAYERING_PRIVATE_PATHS: readonly string[] = [...IN_PLACE_WRITTEN_PATHS, ...EXTRA_IN_PLACE_WRITTEN_PATHS];

export interface CheckoutOptions {
  signal?: AbortSignal;
  /** Tree-relative paths to copy instead of sharing with the repository; default LAYERING_PRIVATE_PATHS. */
  privatePaths?: readonly string[];
}

/**
 * Checks `baseCommit` out of the bare repository `repo` into a new directory under `workDir` with hardlinks and
 * returns its path. `workDir` must be on the repository's filesystem (the stateroot's var/tmp is): hardlinks can
 * not cross filesystems, and a silent fallback to copying would make every layering as slow as a full copy.
 */
export async function checkoutForLayering(repo: string, baseCommit: string, workDir: string,
  opts: CheckoutOptions = {}): Promise<string> {
  await mkdir(workDir, { recursive: true });
  const [repoDevice, workDevice] = await Promise.all([deviceOf(join(repo, 'objects')), deviceOf(workDir)]);
  if (repoDevice !== workDevice) {
    throw new AptOstreeError('invalid-argument', `the work directory ${workDir} is not on the filesystem of ${repo}`,
      'use a directory on the same filesystem as the repository, e.g. the stateroot\'s var/tmp');
  }
  const tree = join(resolve(workDir), `${WORK_TREE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await run(['ostree', 'checkout', `--repo=${repo}`, '--require-hardlinks', baseCommit, tree], { signal: opts.signal });
    await makePrivateCopies(tree, opts.privatePaths ?? LAYERING_PRIVATE_PATHS, opts.signal);
  } catch (err) {
    await removeWorkTree(tree);
    throw err;
  }
  return tree;
}

async function deviceOf(path: string): Promise<number> {
  return (await stat(path)).dev;
}

/**
 * Replaces each of `paths` (files or whole directories) by a copy with new inodes. `cp -a` keeps owners, modes,
 * xattrs, timestamps and symlinks; --no-preserve=links so that two files of the copy that were one object
 * (identical empty files, say) do not share an inode again. One cp for all paths (--parents recreates them below
 * a staging directory), then renames swap the copies in and one rm drops the shared originals: process starts,
 * not bytes, are what this step costs.
 */
async function makePrivateCopies(tree: string, paths: readonly string[], signal: AbortSignal | undefined): Promise<void> {
  const present: string[] = [];
  // A path inside another one in the list is copied with it.
  const outermost = paths.filter((rel) => !paths.some((other) => rel.startsWith(`${other}/`)));
  for (const rel of outermost) {
    const st = await lstatOrNull(join(tree, rel));
    if (st && !st.isSymbolicLink()) present.push(rel);
  }
  if (present.length === 0) return;
  const staging = join(tree, '.apt-ostree-private');
  const shared = join(tree, '.apt-ostree-shared');
  await mkdir(staging);
  await mkdir(shared);
  await run(['cp', '-a', '--no-preserve=links', '--parents', '--', ...present, staging], { cwd: tree, signal });
  for (const [i, rel] of present.entries()) {
    // rename() can not replace a non-empty directory: the shared original moves aside first.
    await rename(join(tree, rel), join(shared, String(i)));
    await rename(join(staging, rel), join(tree, rel));
  }
  await run(['rm', '-rf', '--one-file-system', '--', staging, shared]);
}

/**
 * Deletes a work tree made by checkoutForLayering, whatever state a failed or cancelled run left it in. Deleting a
 * hardlinked checkout only unlinks names; the repository's objects keep their content. Refuses any path that is
 * not a work tree, since this is an `rm -rf`.
 */
export async function removeWorkTree(tree: string): Promise<void> {
  const path = resolve(tree);
  if (!basename(path).startsWith(WORK_TREE_PREFIX)) {
    throw new AptOstreeError('internal', `refusing to remove ${path}: not an apt-ostree work tree`);
  }
  if (!(await lstatOrNull(path))) return;
  const first = await runUnchecked(['rm', '-rf', '--one-file-system', '--', path]);
  if (first.code === 0) return;
  // ostree marks deployment roots immutable; a tree copied from one, or marked by a script, needs the flag cleared.
  await runUnchecked(['chattr', '-R', '-i', '--', path]);
  await run(['rm', '-rf', '--one-file-system', '--', path]);
}

/**
 * Removes the work trees that runs killed without cleanup left in `workDir`. Only call it while holding the
 * sysroot's transaction lock, when no build can be running.
 */
export async function removeStaleWorkTrees(workDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(WORK_TREE_PREFIX))) {
    await removeWorkTree(join(workDir, name));
    removed.push(join(workDir, name));
  }
  return removed;
}
