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
}

export const NO_REQUESTS: LayeringRequests = { packages: [], localPackages: [], removals: [], replacements: [] };

export function readRequests(origin: KeyFile | undefined): LayeringRequests {
  return {
    packages: origin?.getList('packages', 'requested') ?? [],
    localPackages: origin?.getList('packages', 'requested-local') ?? [],
    removals: origin?.getList('overrides', 'remove') ?? [],
    replacements: [...(origin?.getList('overrides', 'replace') ?? []), ...(origin?.getList('overrides', 'replace-local') ?? [])],
  };
}

export function hasRequests(r: LayeringRequests): boolean {
  return r.packages.length + r.localPackages.length + r.removals.length + r.replacements.length > 0;
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
  for (const group of ['packages', 'overrides']) {
    if (!origin.groups().includes(group)) continue;
    const empty = ['requested', 'requested-local', 'remove', 'replace', 'replace-local'].every((k) => !origin.has(group, k));
    if (empty) origin.deleteGroup(group);
  }
  return origin;
}

export function requestsRefspec(origin: KeyFile | undefined): string | undefined {
  return originRefspec(origin);
}
