import { AptOstreeError } from '../../lib/errors.js';
import { editKargs, validateKarg, type KargEdits } from '../kargs.js';
import { originForNewDeployment } from '../origin.js';
import { originRefspec } from '../origin.js';
import { openOs, withSysrootLock, type EngineOptions, type OsView } from './context.js';
import { deployCommit } from './new-deployment.js';
import type { Deployment } from '../sysroot/deployment.js';

export interface KargsRequest extends KargEdits {
  /** Replace the whole list (what `--editor` produces). */
  set?: string[] | undefined;
  /**
   * Index (in `status` order) of the deployment whose arguments are edited; default the origin base (the pending
   * deployment when there is one, else the booted one), as rpm-ostree's kargs.
   */
  deployIndex?: number | undefined;
}

export interface KargsResult {
  kargs: string[];
  changed: boolean;
}

/** The deployment `--deploy-index` names (an index of `status`, in this stateroot), or `fallback` without one. */
export function deploymentAtIndex(view: OsView, deployIndex: number | undefined, fallback: Deployment): Deployment {
  if (deployIndex === undefined) return fallback;
  const d = view.sysroot.deployments[deployIndex];
  if (d?.osname !== view.osname) {
    throw new AptOstreeError('invalid-index', `no deployment ${deployIndex} in stateroot ${view.osname}`,
      'see the indexes with `apt-ostree status`');
  }
  return d;
}

/** Whose kernel arguments `kargs` shows and edits: the one `--deploy-index` names, or the origin base. */
export function kargsSource(view: OsView, deployIndex: number | undefined): Deployment {
  return deploymentAtIndex(view, deployIndex, view.originBase);
}

export async function showKargs(opts: EngineOptions, deployIndex?: number): Promise<string[]> {
  return kargsSource(await openOs(opts), deployIndex).kargs;
}

/** Edits kernel arguments by deploying the same commit and origin with the new arguments (rpm-ostree's way). */
export async function changeKargs(opts: EngineOptions, req: KargsRequest): Promise<KargsResult> {
  // Validate everything before taking the lock: a bad argument changes nothing.
  for (const karg of [...(req.set ?? []), ...(req.append ?? []), ...(req.appendIfMissing ?? []), ...(req.delete ?? []),
    ...(req.deleteIfPresent ?? []), ...(req.replace ?? [])]) validateKarg(karg);
  return withSysrootLock(opts, 'kargs', async () => {
    const view = await openOs(opts);
    const source = kargsSource(view, req.deployIndex);
    const next = req.set ?? editKargs(source.kargs, req);
    if (next.join('\0') === source.kargs.join('\0')) return { kargs: next, changed: false };
    const refspec = originRefspec(source.origin);
    const origin = source.origin?.clone() ?? originForNewDeployment(undefined, refspec ?? '');
    origin.deleteGroup('libostree-transient');
    await deployCommit(opts, view, source.checksum, origin, next);
    return { kargs: next, changed: true };
  });
}
