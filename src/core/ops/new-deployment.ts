import type { KeyFile } from '../../lib/keyfile.js';
import { adminDeploy } from '../ostree/admin.js';
import { task } from '../progress.js';
import type { EngineOptions, OsView } from './context.js';
import { checkCancelled } from './context.js';

/**
 * Deploys a commit as the new default of the stateroot; the merge deployment (the booted one) stays as the rollback,
 * and a pending one, staged or not, is replaced (libostree keeps a staged deployment only when it stays first).
 * Staged, it becomes the default only at shutdown (ostree-finalize-staged.service), which also merges /etc then.
 *
 * `kargs` undefined keeps the origin base's kernel arguments, as rpm-ostree does (rpm-ostree#1392): a change stacked
 * on a pending deployment must not lose a `kargs` edit made before it in the same boot.
 */
export async function deployCommit(
  opts: EngineOptions,
  view: OsView,
  checksum: string,
  origin: KeyFile,
  kargs?: string[],
  stage = false,
): Promise<void> {
  checkCancelled(opts.signal);
  const exactKargs = kargs ?? inheritedKargs(view);
  await task(opts.progress, stage ? 'Staging the deployment' : 'Deploying', () =>
    adminDeploy(checksum, { sysroot: view.sysroot.path, osname: view.osname, origin, kargs: exactKargs, stage, signal: opts.signal }));
}

/**
 * The kernel arguments a new deployment inherits: the origin base's. When it is the merge deployment, undefined lets
 * `ostree admin deploy` copy them itself (what it does without --karg options).
 */
export function inheritedKargs(view: Pick<OsView, 'originBase' | 'mergeDeployment'>): string[] | undefined {
  return view.originBase === view.mergeDeployment ? undefined : view.originBase.kargs;
}
