import { AptOstreeError } from '../../lib/errors.js';
import { protectBaseCommits } from '../sysroot/base-refs.js';
import { setDefaultDeployment } from '../sysroot/reorder.js';
import { task } from '../progress.js';
import { openOs, withSysrootLock, type EngineOptions } from './context.js';

export interface RollbackResult {
  /** The checksum that is now the default deployment. */
  checksum: string;
  previous: string;
}

/**
 * Boots the previous deployment next time: with a pending deployment ahead of the booted one, the booted one becomes
 * the default again; otherwise the rollback deployment moves first. Both stay, so a second rollback undoes it.
 */
export async function rollback(opts: EngineOptions): Promise<RollbackResult> {
  return withSysrootLock(opts, 'rollback', async () => {
    const view = await openOs(opts);
    // ostree admin set-default may prune: the bases of layered deployments must be named before.
    await protectBaseCommits(view.sysroot);
    const target = view.pending.length > 0 && view.booted !== undefined ? view.booted : view.rollback;
    if (target === undefined) {
      throw new AptOstreeError('no-rollback', 'there is no rollback deployment',
        'a rollback target appears after an upgrade, deploy or package change');
    }
    const previous = view.sysroot.deployments.find((d) => !d.staged) ?? view.mergeDeployment;
    await task(opts.progress, 'Writing boot entries', () => setDefaultDeployment(view.sysroot, target));
    return { checksum: target.checksum, previous: previous.checksum };
  });
}
