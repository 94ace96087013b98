/**
 * Commits a finished work tree as a layered commit: parent = the base commit, no ref (the deployment that follows
 * keeps it alive, as rpm-ostree's client-side commits), and metadata saying what it is made of. The version stays
 * the base's (as rpm-ostree shows it): layering does not make a new OS version.
 *
 * Metadata (lists are GVariant `as`, entries `name=version`):
 *   apt-ostree.base       string  the base commit's checksum
 *   apt-ostree.layered    as      packages added on top of the base
 *   apt-ostree.replaced   as      base packages replaced by another version (the new version)
 *   apt-ostree.removed    as      base packages removed (the base's version)
 *   apt-ostree.requested  as      what the user asked for, as the origin records it
 *   apt-ostree.initramfs-args  as  present when dracut regenerated the initramfs on the client: its extra arguments
 *   version               string  the base's version
 *   ostree.bootable, ostree.linux  from --bootable, when the base is bootable
 *
 * --link-checkout-speedup: the files still shared with the repository are recognised by device and inode and not
 * read or hashed again, so committing costs about what the layered packages add.
 */
import { ostree, ostreeUnchecked } from '../ostree/ostree-cli.js';
import { commitMetadataString, isChecksum } from '../ostree/repo.js';
import { AptOstreeError } from '../../lib/errors.js';
import { formatStringArray, parseStringArray } from './gvariant-text.js';

export const LAYERED_METADATA_KEYS = {
  base: 'apt-ostree.base',
  layered: 'apt-ostree.layered',
  replaced: 'apt-ostree.replaced',
  removed: 'apt-ostree.removed',
  requested: 'apt-ostree.requested',
  initramfsArgs: 'apt-ostree.initramfs-args',
} as const;

export interface PackageVersion {
  name: string;
  version: string;
}

export interface LayeredPackages {
  layered: PackageVersion[];
  replaced: PackageVersion[];
  removed: PackageVersion[];
  requested: string[];
}

export interface LayeredMetadata extends LayeredPackages {
  base: string;
  /** Set when the initramfs of this commit was regenerated on the client. */
  initramfs: { args: string[] } | undefined;
  /** The base's version, kept by the layered commit; undefined when the base has none. */
  version: string | undefined;
}

export interface CommitLayeredOptions {
  base: string;
  metadata: LayeredPackages;
  /** The initramfs was regenerated with these extra dracut arguments. */
  initramfs?: { args: string[] } | undefined;
  subject?: string;
  signal?: AbortSignal;
}

function entries(list: readonly PackageVersion[]): string[] {
  return list.map((p) => `${p.name}=${p.version}`);
}

function parseEntries(list: readonly string[]): PackageVersion[] {
  return list.map((e) => {
    const eq = e.indexOf('=');
    return eq < 0 ? { name: e, version: '' } : { name: e.slice(0, eq), version: e.slice(eq + 1) };
  });
}

async function isBootable(repo: string, commit: string): Promise<boolean> {
  const r = await ostreeUnchecked(['show', `--repo=${repo}`, '--print-metadata-key=ostree.bootable', commit]);
  return r.code === 0 && r.stdout.trim() === 'true';
}

export function layeredSubject(metadata: LayeredPackages, baseVersion: string | undefined, initramfs = false): string {
  const parts = [
    ...metadata.layered.map((p) => `+${p.name}`),
    ...metadata.replaced.map((p) => `~${p.name}`),
    ...metadata.removed.map((p) => `-${p.name}`),
    ...(initramfs ? ['initramfs'] : []),
  ];
  const shown = parts.length > 6 ? `${parts.slice(0, 6).join(' ')} …` : parts.join(' ');
  return `apt-ostree: ${baseVersion ?? 'base'} with ${shown || 'no changes'}`;
}

export async function commitLayeredTree(repo: string, tree: string, opts: CommitLayeredOptions): Promise<string> {
  const [version, bootable] = await Promise.all([
    commitMetadataString(repo, opts.base, 'version'),
    isBootable(repo, opts.base),
  ]);
  const m = opts.metadata;
  const args = [
    'commit', `--repo=${repo}`, `--tree=dir=${tree}`, `--parent=${opts.base}`, '--orphan', '--link-checkout-speedup',
    ...(bootable ? ['--bootable'] : []),
    `--subject=${opts.subject ?? layeredSubject(m, version, opts.initramfs !== undefined)}`,
    `--add-metadata-string=${LAYERED_METADATA_KEYS.base}=${opts.base}`,
    ...(version !== undefined ? [`--add-metadata-string=version=${version}`] : []),
    `--add-metadata=${LAYERED_METADATA_KEYS.layered}=${formatStringArray(entries(m.layered))}`,
    `--add-metadata=${LAYERED_METADATA_KEYS.replaced}=${formatStringArray(entries(m.replaced))}`,
    `--add-metadata=${LAYERED_METADATA_KEYS.removed}=${formatStringArray(entries(m.removed))}`,
    `--add-metadata=${LAYERED_METADATA_KEYS.requested}=${formatStringArray(m.requested)}`,
    ...(opts.initramfs !== undefined
      ? [`--add-metadata=${LAYERED_METADATA_KEYS.initramfsArgs}=${formatStringArray(opts.initramfs.args)}`] : []),
  ];
  const { stdout } = await ostree(args, { signal: opts.signal });
  const checksum = stdout.trim();
  if (!isChecksum(checksum)) throw new AptOstreeError('internal', `ostree commit printed no checksum: ${checksum.slice(0, 200)}`);
  return checksum;
}

async function metadataArray(repo: string, commit: string, key: string): Promise<string[]> {
  return (await metadataArrayOrUndefined(repo, commit, key)) ?? [];
}

async function metadataArrayOrUndefined(repo: string, commit: string, key: string): Promise<string[] | undefined> {
  const r = await ostreeUnchecked(['show', `--repo=${repo}`, `--print-metadata-key=${key}`, commit]);
  return r.code === 0 ? parseStringArray(r.stdout) : undefined;
}

/** What a layered commit is made of; undefined for a commit apt-ostree did not layer (a base). */
export async function readLayeredMetadata(repo: string, commit: string): Promise<LayeredMetadata | undefined> {
  const base = await commitMetadataString(repo, commit, LAYERED_METADATA_KEYS.base);
  if (base === undefined) return undefined;
  const [version, layered, replaced, removed, requested, initramfsArgs] = await Promise.all([
    commitMetadataString(repo, commit, 'version'),
    metadataArray(repo, commit, LAYERED_METADATA_KEYS.layered),
    metadataArray(repo, commit, LAYERED_METADATA_KEYS.replaced),
    metadataArray(repo, commit, LAYERED_METADATA_KEYS.removed),
    metadataArray(repo, commit, LAYERED_METADATA_KEYS.requested),
    metadataArrayOrUndefined(repo, commit, LAYERED_METADATA_KEYS.initramfsArgs),
  ]);
  return {
    base, version, layered: parseEntries(layered), replaced: parseEntries(replaced), removed: parseEntries(removed), requested,
    initramfs: initramfsArgs === undefined ? undefined : { args: initramfsArgs },
  };
}
