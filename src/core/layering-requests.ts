import { AptOstreeError } from '../lib/errors.js';
import type { KeyFile } from '../lib/keyfile.js';
import { originForNewDeployment, originRefspec } from './origin.js';

/**
 * What the user asked on top of the base, as the origin records it (rpm-ostree's keys, plus local .debs kept by
 * content hash so that they can be re-applied on every new base).
 */
export interface LayeringRequests {
  /** `name`, `name=version` or `name:arch`, as typed. */
  packages: string[];
  /** Local .debs, recorded as `sha256:<hex>:<name>`; the file is kept in the stateroot's apt-ostree state. */
  localPackages: string[];
  /** Base packages removed (`override remove`). */
  removals: string[];
  /** Base packages replaced: `name=version`, or `sha256:<hex>:<name>` for a local .deb. */
  replacements: string[];
  /** `initramfs --enable`: dracut rebuilds the initramfs on the client, after the packages. */
  regenerateInitramfs: boolean;
  /** Extra dracut arguments of `initramfs --enable --arg=…`, in order. */
  initramfsArgs: string[];
}

export const NO_REQUESTS: LayeringRequests = {
  packages: [], localPackages: [], removals: [], replacements: [], regenerateInitramfs: false, initramfsArgs: [],
};

/**
 * rpm-ostree's group and keys for client-side initramfs regeneration, kept verbatim so that tools reading origins
 * (and people who know rpm-ostree) find them where they expect.
 */
const INITRAMFS_GROUP = 'rpmostree';
const REGENERATE_KEY = 'regenerate-initramfs';
const ARGS_KEY = 'initramfs-args';

export function readRequests(origin: KeyFile | undefined): LayeringRequests {
  const regenerate = origin?.getBoolean(INITRAMFS_GROUP, REGENERATE_KEY) ?? false;
  return {
    packages: origin?.getList('packages', 'requested') ?? [],
    localPackages: origin?.getList('packages', 'requested-local') ?? [],
    removals: origin?.getList('overrides', 'remove') ?? [],
    replacements: [...(origin?.getList('overrides', 'replace') ?? []), ...(origin?.getList('overrides', 'replace-local') ?? [])],
    regenerateInitramfs: regenerate,
    initramfsArgs: regenerate ? (origin?.getList(INITRAMFS_GROUP, ARGS_KEY) ?? []) : [],
  };
}

/** Package requests only: what needs apt (the initramfs alone is rebuilt from the base's own packages). */
export function hasPackageRequests(r: LayeringRequests): boolean {
  return r.packages.length + r.localPackages.length + r.removals.length + r.replacements.length > 0;
}

/** Whether two request sets ask for the same thing (list order counts: dracut arguments are positional). */
export function sameRequests(a: LayeringRequests, b: LayeringRequests): boolean {
  const key = (r: LayeringRequests): string => JSON.stringify([r.packages, r.localPackages, r.removals, r.replacements,
    r.regenerateInitramfs, r.regenerateInitramfs ? r.initramfsArgs : []]);
  return key(a) === key(b);
}

export function hasRequests(r: LayeringRequests): boolean {
  return hasPackageRequests(r) || r.regenerateInitramfs;
}

/**
 * A dracut argument as the origin can record it: GLib key-file lists are `;`-separated and trimmed, so an argument
 * with a `;`, surrounding blanks or a control character would not read back the same.
 */
export function validateInitramfsArg(arg: string): void {
  // eslint-disable-next-line no-control-regex
  if (arg === '' || arg.includes(';') || arg.trim() !== arg || /[\x00-\x1f\x7f]/.test(arg)) {
    throw new AptOstreeError('invalid-argument', `'${arg.replace(/[^\x20-\x7e]/g, '?')}' can not be a dracut argument`,
      'give each argument without `;`, blanks around it or control characters, e.g. --arg=--add-drivers --arg=nbd');
  }
}

/** The origin of a deployment of `refspec` with these requests: `baserefspec` when anything is layered. */
export function originWithRequests(current: KeyFile | undefined, refspec: string, r: LayeringRequests, overrideCommit?: string): KeyFile {
  const origin = originForNewDeployment(current, refspec, overrideCommit);
  origin.delete('origin', 'refspec');
  origin.delete('origin', 'baserefspec');
  origin.set('origin', hasRequests(r) ? 'baserefspec' : 'refspec', refspec);
  origin.setList('packages', 'requested', r.packages);
  origin.setList('packages', 'requested-local', r.localPackages);
  origin.setList('overrides', 'remove', r.removals);
  origin.setList('overrides', 'replace', r.replacements.filter((x) => !/^(sha256|file):/.test(x)));
  origin.setList('overrides', 'replace-local', r.replacements.filter((x) => /^(sha256|file):/.test(x)));
  if (r.regenerateInitramfs) origin.set(INITRAMFS_GROUP, REGENERATE_KEY, 'true');
  else origin.delete(INITRAMFS_GROUP, REGENERATE_KEY);
  origin.setList(INITRAMFS_GROUP, ARGS_KEY, r.regenerateInitramfs ? r.initramfsArgs : []);
  for (const group of ['packages', 'overrides']) {
    if (!origin.groups().includes(group)) continue;
    const empty = ['requested', 'requested-local', 'remove', 'replace', 'replace-local'].every((k) => !origin.has(group, k));
    if (empty) origin.deleteGroup(group);
  }
  // rpm-ostree keeps more in its group (initramfs-etc, …): only an empty one goes.
  if (origin.groups().includes(INITRAMFS_GROUP) && origin.keys(INITRAMFS_GROUP).length === 0) origin.deleteGroup(INITRAMFS_GROUP);
  return origin;
}

export function requestsRefspec(origin: KeyFile | undefined): string | undefined {
  return originRefspec(origin);
}
