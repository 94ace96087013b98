import type { KeyFile } from '../../lib/keyfile.js';
import { followImageKargs, imageKargsOfCommit, imageKargsOfTree, sameKargs } from '../image-kargs.js';
import { adminDeploy } from '../ostree/admin.js';
import { task } from '../progress.js';
import { protectBaseCommits } from '../sysroot/base-refs.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import type { EngineOptions, OsView } from './context.js';
import { checkCancelled } from './context.js';

/**
 * Deploys a commit as the new default of the stateroot; the merge deployment (the booted one) stays as the rollback,
 * and a pending one, staged or not, is replaced (libostree keeps a staged deployment only when it stays first).
 * Staged, it becomes the default only at shutdown (ostree-finalize-staged.service), which also merges /etc then.
 *
 * `kargs` undefined keeps the origin base's kernel arguments, as rpm-ostree does (rpm-ostree#1392): a change stacked
 * on a pending deployment must not lose a `kargs` edit made before it in the same boot; when the new commit's image
 * asks for other arguments than the origin base's (kargs.d), they follow it (image-kargs.ts).
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
  const exactKargs = kargs ?? await kargsFollowingImage(view, checksum) ?? inheritedKargs(view);
  // The deploy prunes the repository: the bases of the layered deployments (the new one's too) must be named first.
  await protectBaseCommits(view.sysroot, [checksum]);
  try {
    await task(opts.progress, stage ? 'Staging the deployment' : 'Deploying', () =>
      adminDeploy(checksum, { sysroot: view.sysroot.path, osname: view.osname, origin, kargs: exactKargs, stage, signal: opts.signal }));
  } finally {
    await protectBaseCommits(await loadSysroot(view.sysroot.path));
  }
}

/**
 * The kernel arguments a new deployment inherits: the origin base's. When it is the merge deployment, undefined lets
 * `ostree admin deploy` copy them itself (what it does without --karg options).
 */
export function inheritedKargs(view: Pick<OsView, 'originBase' | 'mergeDeployment'>): string[] | undefined {
  return view.originBase === view.mergeDeployment ? undefined : view.originBase.kargs;
}

/** The origin base's arguments with the image's change applied, or undefined when the image asks for the same. */
async function kargsFollowingImage(view: Pick<OsView, 'originBase' | 'sysroot'>, checksum: string): Promise<string[] | undefined> {
  const [before, after] = await Promise.all([imageKargsOfTree(view.originBase.path),
    imageKargsOfCommit(view.sysroot.repoPath, checksum)]);
  return sameKargs(before, after) ? undefined : followImageKargs(view.originBase.kargs, before, after);
}
