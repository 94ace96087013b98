import { KeyFile } from '../lib/keyfile.js';
import type { Deployment } from './sysroot/deployment.js';

/**
 * The origin file beside each deployment: where it came from and what was asked on top. A plain base has
 * `[origin] refspec=`; a layered one `[origin] baserefspec=`, `[packages] requested=`, `[overrides] remove=` and
 * `replace=` (rpm-ostree's keys). Unknown groups and keys are kept as they are.
 */
export function originRefspec(origin: KeyFile | undefined): string | undefined {
  return origin?.get('origin', 'baserefspec') ?? origin?.get('origin', 'refspec');
}

export function isLayered(origin: KeyFile | undefined): boolean {
  return origin?.has('origin', 'baserefspec') ?? false;
}

export function requestedPackages(origin: KeyFile | undefined): string[] {
  return origin?.getList('packages', 'requested') ?? [];
}

/** A copy of the origin for a new deployment from `refspec`: pins and one-off overrides are not inherited. */
export function originForNewDeployment(origin: KeyFile | undefined, refspec: string, overrideCommit?: string): KeyFile {
  const next = origin?.clone() ?? KeyFile.parse('');
  next.deleteGroup('libostree-transient');
  const key = next.has('origin', 'baserefspec') ? 'baserefspec' : 'refspec';
  next.set('origin', key, refspec);
  if (overrideCommit === undefined) next.delete('origin', 'override-commit');
  else next.set('origin', 'override-commit', overrideCommit);
  return next;
}

export function deploymentOriginRefspec(d: Deployment): string | undefined {
  return originRefspec(d.origin);
}
