/**
 * File operations for trees that may be hardlinked checkouts (`ostree checkout -H`): there, a regular file shares
 * its inode with a repository object and with every deployment using it. Writing such a file in place, or changing
 * its mode or owner, silently corrupts the repository. So every function here only creates new inodes, renames
 * and unlinks; none opens an existing file for writing.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Replaces (or creates) `path` with a new file holding `data`: write a temporary sibling, then rename over. */
export async function writeFileByRename(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.apt-ostree-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Makes `path` a symlink to `target`, replacing whatever is there (a directory is removed with its content). */
export async function replaceWithSymlink(path: string, target: string): Promise<void> {
  const st = await lstatOrNull(path);
  if (st?.isSymbolicLink() && (await readlink(path)) === target) return;
  if (st) await rm(path, { recursive: true, force: true });
  await mkdir(dirname(path), { recursive: true });
  await symlink(target, path);
}

/** Removes everything inside `dir` (not `dir` itself); returns the names removed. A missing dir is created. */
export async function emptyDirectory(dir: string): Promise<string[]> {
  const st = await lstatOrNull(dir);
  if (!st) {
    await mkdir(dir, { recursive: true });
    return [];
  }
  const names = await readdir(dir);
  for (const name of names) await rm(join(dir, name), { recursive: true, force: true });
  return names;
}

/**
 * Moves `src` to `dest` by rename. When both are directories the content is merged (entries of `src` win), so the
 * ownership and mode of an existing `dest` are kept. Renames never touch file content, which keeps them safe on
 * hardlinked checkouts.
 */
export async function moveMerging(src: string, dest: string): Promise<void> {
  const srcStat = await lstat(src);
  const destStat = await lstatOrNull(dest);
  if (!destStat) {
    await mkdir(dirname(dest), { recursive: true });
    await rename(src, dest);
    return;
  }
  if (srcStat.isDirectory() && destStat.isDirectory()) {
    for (const name of await readdir(src)) await moveMerging(join(src, name), join(dest, name));
    await rmdir(src);
    return;
  }
  await rm(dest, { recursive: true, force: true });
  await rename(src, dest);
}

/** The sorted names in `dir`; [] when it does not exist. */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
}

/** Names in `dir` matching a pattern with at most one `*` (shell-like, no other wildcards); [] if dir is missing. */
export async function matchNames(dir: string, pattern: string): Promise<string[]> {
  if (!pattern.includes('*')) return (await lstatOrNull(join(dir, pattern))) ? [pattern] : [];
  const [prefix = '', suffix = ''] = pattern.split('*', 2);
  return (await readdirOrEmpty(dir))
    .filter((n) => n.length >= prefix.length + suffix.length && n.startsWith(prefix) && n.endsWith(suffix));
}

/** Expands a relative path whose last component may contain one `*` (e.g. `usr/etc/ssh/ssh_host_*`). */
export async function expandGlob(root: string, relative: string): Promise<string[]> {
  const parent = dirname(relative);
  const names = await matchNames(join(root, parent), basename(relative));
  return names.map((n) => (parent === '.' ? n : `${parent}/${n}`));
}

export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}
