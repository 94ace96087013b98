/**
 * `compose commit`: a tree that follows the base image contract becomes a commit on the treefile's ref, with the
 * metadata fleets and apt-ostree read (version, package list, input hash). Nothing is committed when the inputs
 * hash of the ref's tip is the same: same treefile, same files, same packages → same image.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { parseDeb822 } from '../../lib/deb822.js';
import { VERSION } from '../../version.js';
import { formatStringArray } from '../layering/gvariant-text.js';
import { ostree } from '../ostree/ostree-cli.js';
import { commitMetadataString, revParse } from '../ostree/repo.js';
import { DPKG_DATABASE } from './contract-paths.js';
import type { ResolvedRepo } from './repos.js';
import type { LoadedTreefile } from './treefile/index.js';

export const IMAGE_METADATA_KEYS = {
  version: 'version',
  inputHash: 'apt-ostree.inputhash',
  packages: 'apt-ostree.packages',
  release: 'apt-ostree.release',
  kernelArgs: 'apt-ostree.kargs',
  composer: 'apt-ostree.compose-version',
} as const;

export interface ImageCommitOptions {
  loaded: LoadedTreefile;
  /** computeInputHash of the treefile and its resolved package set. */
  inputHash: string;
  architecture: string;
  tree: string;
  repo: string;
  /** Scratch space on the repository's filesystem (an archive repository is fed through a bare one there). */
  workDir: string;
  /** Commit even when the inputs are unchanged. */
  force?: boolean;
  /** unchangedTip's answer for this ref and inputHash when the caller has asked already; asked here otherwise. */
  checkedTip?: { unchanged: UnchangedTip };
  /** Compute everything, write nothing. */
  dryRun?: boolean;
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface ImageCommitResult {
  ref: string;
  /** The new commit, or the unchanged tip. Undefined for a dry run that would commit. */
  commit: string | undefined;
  previous: string | undefined;
  changed: boolean;
  version: string;
  inputHash: string;
  packages: string[];
}

/** `name=version` (`name:arch=version` for a foreign architecture) of every installed package, sorted. */
export async function installedPackages(tree: string, nativeArch: string): Promise<string[]> {
  const status = await readFile(join(tree, DPKG_DATABASE, 'status'), 'utf8').catch(() => {
    throw new AptOstreeError('no-package-database', `${tree} has no ${DPKG_DATABASE}/status`, 'run `compose postprocess` on the root first');
  });
  const out: string[] = [];
  for (const p of parseDeb822(status)) {
    if (!/\sinstalled$/.test(p.get('Status') ?? '')) continue;
    const arch = p.get('Architecture') ?? '';
    const name = arch === nativeArch || arch === 'all' ? p.get('Package') : `${p.get('Package') ?? ''}:${arch}`;
    out.push(`${name ?? ''}=${p.get('Version') ?? ''}`);
  }
  return out.sort();
}

/** unchangedTip's answer. */
export type UnchangedTip = { commit: string; version: string } | undefined;

/** Everything the image is made of: what changes here changes the image. Positions in the treefile do not count. */
/** The ref's tip when it was made from the same inputs (nothing to commit), else undefined. */
export async function unchangedTip(repo: string, ref: string, inputHash: string): Promise<UnchangedTip> {
  const tip = await revParse(repo, ref);
  if (tip === undefined || await commitMetadataString(repo, tip, IMAGE_METADATA_KEYS.inputHash) !== inputHash) return undefined;
  return { commit: tip, version: await commitMetadataString(repo, tip, IMAGE_METADATA_KEYS.version) ?? '' };
}

/**
 * `packages` is the resolved set (resolvePackageSet), not the installed one, so that the hash is known before
 * anything is built.
 */
export async function computeInputHash(loaded: LoadedTreefile, repos: readonly ResolvedRepo[], architecture: string,
  packages: readonly string[]): Promise<string> {
  const tf = loaded.treefile;
  const digest = async (path: string): Promise<string> => {
    const hash = createHash('sha256');
    // add-files may name a directory: its files by relative path and content.
    const st = await stat(path);
    if (!st.isDirectory()) return hash.update(await readFile(path)).digest('hex');
    for (const name of (await readdir(path, { recursive: true })).sort()) {
      const full = join(path, name);
      const s = await lstat(full);
      hash.update(`\0${name}\0${s.mode.toString(8)}\0`);
      if (s.isFile()) hash.update(await readFile(full));
      else if (s.isSymbolicLink()) hash.update(await readlink(full));
    }
    return hash.digest('hex');
  };
  const files: Record<string, string> = {};
  for (const f of tf['add-files']) files[`add:${f.dest}`] = await digest(f.src);
  for (const deb of tf['local-debs']) files[`deb:${deb}`] = await digest(deb);
  for (const [i, s] of tf.postprocess.entries()) files[`postprocess:${i}`] = s.kind === 'file' ? await digest(s.path) : s.text;
  for (const r of repos) if (r.keyring !== undefined) files[`keyring:${r.name}`] = await digest(r.keyring);
  // The scripts count by content (in `files`), not by where they were written.
  const rest: Partial<typeof tf> = { ...tf };
  delete rest.postprocess;
  const input = {
    format: 1, composer: VERSION, architecture, treefile: rest, files,
    repos: repos.map((r) => ({ uri: r.uri, suites: r.suites, components: r.components, trusted: r.trusted })),
    packages,
  };
  return createHash('sha256').update(JSON.stringify(input)).digest('hex');
}

/**
 * `<prefix>.<n>`: n is one more than the tip's when the tip has the same prefix, else 0. Without a prefix in the
 * treefile, the prefix is the image's Debian version and the build date (13.2.20261130.0).
 */
export function nextVersion(prefix: string, previous: string | undefined): string {
  if (previous === prefix) return `${prefix}.1`;
  if (previous?.startsWith(`${prefix}.`) === true) {
    const n = Number(previous.slice(prefix.length + 1));
    if (Number.isInteger(n) && n >= 0) return `${prefix}.${n + 1}`;
  }
  return `${prefix}.0`;
}

async function defaultVersionPrefix(tree: string): Promise<string> {
  const debian = (await readFile(join(tree, 'usr/etc/debian_version'), 'utf8').catch(() => '')).trim();
  const date = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return /^[0-9][0-9.]*$/.test(debian) ? `${debian}.${date}` : date;
}

/** The treefile's own metadata: strings as strings, numbers and booleans as GVariant text (`42`, `true`). */
function metadataArgument(key: string, value: string | number | boolean): string {
  return typeof value === 'string' ? `--add-metadata-string=${key}=${value}` : `--add-metadata=${key}=${String(value)}`;
}

/** core.mode from the repository's config (a key file; one ostree process less per compose). */
async function repoMode(repo: string): Promise<string> {
  const config = await readFile(join(repo, 'config'), 'utf8');
  return /^\s*mode\s*=\s*(\S+)\s*$/m.exec(config.split(/^\[/m).find((g) => g.startsWith('core]')) ?? '')?.[1] ?? 'bare';
}

export async function commitImage(opts: ImageCommitOptions): Promise<ImageCommitResult> {
  const tf = opts.loaded.treefile;
  const packages = await installedPackages(opts.tree, opts.architecture);
  const inputHash = opts.inputHash;
  const previous = await revParse(opts.repo, tf.ref);
  const previousVersion = previous === undefined ? undefined : await commitMetadataString(opts.repo, previous, IMAGE_METADATA_KEYS.version);
  let same: UnchangedTip;
  if (opts.force !== true) same = opts.checkedTip !== undefined ? opts.checkedTip.unchanged : await unchangedTip(opts.repo, tf.ref, inputHash);
  if (same !== undefined) return { ref: tf.ref, commit: same.commit, previous, changed: false, version: same.version, inputHash, packages };
  const version = nextVersion(tf['automatic-version-prefix'] ?? await defaultVersionPrefix(opts.tree), previousVersion);
  if (opts.dryRun === true) return { ref: tf.ref, commit: undefined, previous, changed: true, version, inputHash, packages };

  const metadata: string[] = [
    `--add-metadata-string=${IMAGE_METADATA_KEYS.version}=${version}`,
    `--add-metadata-string=${IMAGE_METADATA_KEYS.inputHash}=${inputHash}`,
    `--add-metadata-string=${IMAGE_METADATA_KEYS.release}=${tf.release}`,
    `--add-metadata-string=${IMAGE_METADATA_KEYS.composer}=${VERSION}`,
    `--add-metadata=${IMAGE_METADATA_KEYS.packages}=${formatStringArray(packages)}`,
    ...(tf['kernel-args'].length > 0 ? [`--add-metadata=${IMAGE_METADATA_KEYS.kernelArgs}=${formatStringArray(tf['kernel-args'])}`] : []),
    ...Object.entries(tf.metadata).map(([k, v]) => metadataArgument(k, v)),
  ];
  const mode = await repoMode(opts.repo);
  const commitArgs = (repo: string): string[] => [
    'commit', `--repo=${repo}`, `--branch=${tf.ref}`, `--tree=dir=${opts.tree}`, '--bootable',
    `--subject=${tf.ref} ${version}`, ...(previous !== undefined ? [`--parent=${previous}`] : []), ...metadata,
  ];
  let commit: string;
  if (mode === 'archive' || mode === 'archive-z2') {
    // An archive commit compresses on one thread; committing to a bare repository and pulling from it compresses
    // on several (half the time here). The parent is only named, so the bare repository needs none of the history.
    const bare = join(opts.workDir, 'commit-repo');
    await rm(bare, { recursive: true, force: true });
    await mkdir(opts.workDir, { recursive: true });
    await ostree(['init', `--repo=${bare}`, '--mode=bare']);
    try {
      commit = (await ostree(commitArgs(bare), { signal: opts.signal })).stdout.trim();
      await ostree(['pull-local', `--repo=${opts.repo}`, bare, tf.ref], { signal: opts.signal });
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  } else {
    commit = (await ostree(commitArgs(opts.repo), { signal: opts.signal })).stdout.trim();
  }
  return { ref: tf.ref, commit, previous, changed: true, version, inputHash, packages };
}
