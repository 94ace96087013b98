/**
 * A treefile's `local-debs` as a small flat apt repository (Packages and Release, written here from the files'
 * control fields: no apt-ftparchive needed), trusted and pinned, that both the resolution and mmdebstrap add to
 * the treefile's repositories. The packages are then asked for by name like any other.
 *
 * Why not the paths themselves (`apt-get install ./x.deb`, mmdebstrap `--include=/path/x.deb`): apt hands dpkg the
 * host path, and in mmdebstrap's root and unshare modes dpkg runs chrooted in the new root, where that path does
 * not exist ("dpkg: cannot stat pathname /tmp/apt-dpkg-install-…"). From a repository, apt fetches the .debs into
 * the root's own /var/cache/apt/archives first (mmdebstrap is given it as copy://), which dpkg reads in every mode:
 * root, unshare, fakechroot and chrootless.
 *
 * The repository lives in a scratch directory of the run and is never part of the image: mmdebstrap's
 * sources.list, where it is named, is replaced by the image's own deb822 sources (bootstrap.ts), and the pins go
 * with the build's preferences file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AptOstreeError } from '../../lib/errors.js';
import { isValidVersion } from '../../lib/debversion.js';
import { run } from '../../lib/exec.js';
import { debControlFields, displayText, isValidArchitecture, isValidPackageName } from '../apt/package-request.js';
import type { LoadedTreefile } from './treefile/index.js';

/** The Origin of the repository's Release file, which the pins name. */
export const LOCAL_DEBS_ORIGIN = 'apt-ostree-local-debs';

export interface LocalDeb {
  /** The treefile's path. */
  path: string;
  name: string;
  version: string;
  architecture: string;
}

export interface LocalDebsRepo {
  /** The repository's directory (flat: Packages, Release and the .debs side by side). */
  dir: string;
  debs: LocalDeb[];
}

/**
 * Writes the repository of the treefile's `local-debs` into `dir` (replaced), or nothing when there are none.
 * The .debs are copied, so that the repository holds exactly the bytes its index describes.
 */
export async function writeLocalDebsRepo(loaded: LoadedTreefile, dir: string, signal?: AbortSignal): Promise<LocalDebsRepo | undefined> {
  const paths = loaded.treefile['local-debs'];
  // Also when there are none: `dir` may be in a cache directory, where an earlier compose's would stay.
  await rm(dir, { recursive: true, force: true });
  if (paths.length === 0) return undefined;
  await mkdir(dir, { recursive: true });
  // Readable by all: mmdebstrap's unshare mode reads it as an unprivileged user.
  await chmod(dir, 0o755);
  const debs: LocalDeb[] = [];
  const stanzas: string[] = [];
  for (const [i, path] of paths.entries()) {
    debs.push(await readLocalDeb(loaded, i, path, signal));
    const file = `local-${i}.deb`;
    const copy = join(dir, file);
    await copyFile(path, copy);
    await chmod(copy, 0o644);
    const control = (await run(['dpkg-deb', '--field', copy], signal ? { signal } : {})).stdout.trimEnd();
    stanzas.push(`${control}\nFilename: ./${file}\nSize: ${(await stat(copy)).size}\nSHA256: ${await sha256File(copy)}\n`);
  }
  const packages = stanzas.join('\n');
  await writeFile(join(dir, 'Packages'), packages, { mode: 0o644 });
  const release = [
    `Origin: ${LOCAL_DEBS_ORIGIN}`,
    `Label: ${LOCAL_DEBS_ORIGIN}`,
    // apt warns about a Release file without a date.
    `Date: ${new Date().toUTCString()}`,
    'SHA256:',
    ` ${createHash('sha256').update(packages).digest('hex')} ${Buffer.byteLength(packages)} Packages`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'Release'), release, { mode: 0o644 });
  return { dir, debs };
}

async function readLocalDeb(loaded: LoadedTreefile, i: number, path: string, signal?: AbortSignal): Promise<LocalDeb> {
  const where = loaded.where(['local-debs', i]);
  const at = where === undefined ? '' : `${where}: `;
  let fields: Map<string, string>;
  try {
    fields = await debControlFields(path, ['Package', 'Version', 'Architecture'], signal);
  } catch (err) {
    if (err instanceof AptOstreeError && err.code === 'invalid-deb') throw new AptOstreeError('invalid-deb', `${at}${err.message}`, err.hint);
    throw err;
  }
  const name = fields.get('Package') ?? '';
  const version = fields.get('Version') ?? '';
  const architecture = fields.get('Architecture') ?? '';
  if (!isValidPackageName(name) || !isValidVersion(version) || !isValidArchitecture(architecture)) {
    throw new AptOstreeError('invalid-deb',
      `${at}${displayText(path)} has an invalid Package, Version or Architecture field (${displayText(`${name} ${version} ${architecture}`)})`,
      'the file is not a usable Debian package');
  }
  return { path, name, version, architecture };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * The one-line source of the repository: file:// for the host's apt, copy:// for mmdebstrap's (see above). It goes
 * first in the sources: of two builds of one version (a repository's and the local one), apt matches an installed
 * package to the one it read first, and mmdebstrap's second apt run (after its essential phase installed the local
 * build with dpkg) would otherwise take the pinned local build for a downgrade.
 */
export function localDebsSourceLine(repo: LocalDebsRepo, scheme: 'file' | 'copy'): string {
  return `deb [trusted=yes] ${scheme}://${repo.dir} ./`;
}

/**
 * What apt is asked to install: the names (`name:arch` for a foreign architecture), which the pins below make
 * resolve to the local files. Not `name=version`: apt takes the first version of that number it knows, which may be
 * another repository's build of it, pins or not.
 */
export function localDebsRequests(repo: LocalDebsRepo | undefined, architecture: string): string[] {
  return (repo?.debs ?? []).map((d) => `${d.name}${d.architecture === 'all' || d.architecture === architecture ? '' : `:${d.architecture}`}`);
}

/**
 * apt preferences that make the local packages the candidates over the same names in the other repositories (of a
 * higher version, or the same version built differently), also where they come in as dependencies.
 */
export function localDebsPreferences(repo: LocalDebsRepo | undefined): string {
  if (repo === undefined) return '';
  const names = [...new Set(repo.debs.map((d) => d.name))];
  return `Package: ${names.join(' ')}\nPin: release o=${LOCAL_DEBS_ORIGIN}\nPin-Priority: 1001\n`;
}

/** `.deb` file names (as apt names them in archives/: `name_version_arch.deb`) of the local packages. */
export function isLocalDebArchive(repo: LocalDebsRepo | undefined, fileName: string): boolean {
  if (repo === undefined) return false;
  const name = fileName.split('_')[0];
  return repo.debs.some((d) => d.name === name);
}
