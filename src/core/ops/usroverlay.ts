import { AptOstreeError } from '../../lib/errors.js';
import { task } from '../progress.js';
import { openOs, withSysrootLock, type EngineOptions } from './context.js';
import { requireBooted, runOnHost, unlockedState, type UnlockedState } from './running-system.js';

export interface UsrOverlayRequest {
  /** Keep the changes across reboots (`ostree admin unlock --hotfix`, which also clones the deployment as rollback). */
  hotfix?: boolean;
}

export interface UsrOverlayResult {
  unlocked: UnlockedState;
}

/**
 * `usroverlay` (rpm-ostree's, alias `unlock`): a writable overlayfs on the booted deployment's /usr, by
 * `ostree admin unlock`. The changes live in /var/tmp and go away at the next boot; with --hotfix they stay for this
 * deployment, and ostree first makes an untouched copy of it the rollback target.
 */
export async function usrOverlay(opts: EngineOptions, req: UsrOverlayRequest): Promise<UsrOverlayResult> {
  const what = req.hotfix ? 'usroverlay --hotfix' : 'usroverlay';
  requireBooted(await openOs(opts), what);
  return withSysrootLock(opts, what, async () => {
    const booted = requireBooted(await openOs(opts), what);
    const state = await unlockedState(booted);
    if (state !== 'none') {
      throw new AptOstreeError('nothing-to-do', `/usr of the booted deployment is already unlocked (${state})`,
        state === 'hotfix' ? 'the hotfix overlay stays until you boot another deployment'
          : 'it stays writable until the next boot; reboot to go back to the read-only /usr');
    }
    await task(opts.progress, 'Unlocking /usr', () =>
      runOnHost(['ostree', 'admin', 'unlock', ...(req.hotfix ? ['--hotfix'] : [])], { signal: opts.signal }));
    return { unlocked: req.hotfix ? 'hotfix' : 'development' };
  });
}
