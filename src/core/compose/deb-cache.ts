/**
 * `<cachedir>/debs`: the .debs of earlier composes, so that a rebuild only downloads what changed in the archive.
 * Composes with the same --cachedir may run at the same time (two test suites on one host), so nobody renames,
 * swaps or empties the directory: a compose hardlinks what is there into a directory of its own before mmdebstrap
 * starts (a file removed meanwhile is simply not taken), and afterwards adds each .deb it used by an atomic rename,
 * then drops the other versions of the packages it used and the .debs no compose has used for a month. Another
 * compose sees every file either whole or not at all.
 *
 * "Used" is the inode's change time: every compose that takes a file links it, which sets it (a download keeps
 * the server's modification time, so mtime would not tell).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, unlinkIfPresent } from './tree-fs.js';

/** .debs no compose used for this long leave the cache. */
const STALE_MS = 30 * 24 * 3600 * 1000;
/** Temporary names of a compose that died between link and rename. */
const TEMP_STALE_MS = 24 * 3600 * 1000;

/** A hardlink, or a copy when the two are on different file systems. */
async function linkOrCopy(src: string, dest: string): Promise<void> {
  try {
    await link(src, dest);
  } catch (err) {
    if (!isErrno(err, 'EXDEV')) throw err;
    await copyFile(src, dest);
  }
}

function isCachedDeb(name: string): boolean {
  return name.endsWith('.deb') && !name.startsWith('.');
}

/** Fills `into` (replaced) with links to the cache's .debs, but those `skip` names; returns how many. */
export async function takeFromDebCache(cache: string, into: string, skip: (name: string) => boolean = () => false): Promise<number> {
  await mkdir(cache, { recursive: true });
  await rm(into, { recursive: true, force: true });
  await mkdir(into, { recursive: true });
  let n = 0;
  for (const name of await readdir(cache)) {
    if (!isCachedDeb(name) || skip(name)) continue;
    try {
      await linkOrCopy(join(cache, name), join(into, name));
      n++;
    } catch (err) {
      // Replaced or dropped by another compose since readdir: not in the cache any more.
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  return n;
}

/** `name_arch` of apt's archive file name `name_version_arch.deb`. */
function packageKey(name: string): string {
  const parts = name.split('_');
  return `${parts[0] ?? ''}_${parts.at(-1) ?? ''}`;
}

/**
 * Adds the .debs of `from` (but those `skip` names) to the cache and prunes it (see above); returns how many .debs
 * the cache holds then. `now` is for tests.
 */
export async function addToDebCache(cache: string, from: string, skip: (name: string) => boolean = () => false, now = Date.now()): Promise<number> {
  await mkdir(cache, { recursive: true });
  const ours = (await readdir(from)).filter((n) => isCachedDeb(n) && !skip(n));
  for (const name of ours) {
    const src = join(from, name);
    const dest = join(cache, name);
    const [s, d] = await Promise.all([stat(src), stat(dest).catch(() => undefined)]);
    if (d?.ino !== s.ino || d.dev !== s.dev) {
      const tmp = join(cache, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
      await linkOrCopy(src, tmp);
      try {
        await rename(tmp, dest);
      } finally {
        // rename(2) does nothing when both names are links of one file (another compose added the same one).
        await unlinkIfPresent(tmp);
      }
    }
  }

  const used = new Map(ours.map((n) => [packageKey(n), n]));
  let kept = 0;
  for (const name of await readdir(cache)) {
    const path = join(cache, name);
    const st = await stat(path).catch(() => undefined);
    if (st === undefined || !st.isFile()) continue;
    let drop: boolean;
    if (name.startsWith('.')) drop = now - st.ctimeMs > TEMP_STALE_MS;
    else if (!name.endsWith('.deb')) drop = false;
    else {
      const mine = used.get(packageKey(name));
      drop = mine !== undefined ? mine !== name : now - st.ctimeMs > STALE_MS;
    }
    if (drop) await unlinkIfPresent(path);
    else if (isCachedDeb(name)) kept++;
  }
  return kept;
}
