import { loadConfig, type AutomaticUpdatePolicy } from '../config.js';
import { commitInfo, revParse } from '../ostree/repo.js';
import { pull } from '../ostree/pull.js';
import { formatRefspec } from '../refspec.js';
import { task } from '../progress.js';
import { followedRefspec } from './base-source.js';
import { openOs, withSysrootLock, type EngineOptions } from './context.js';
import { requireBooted } from './running-system.js';
import { baseCommitOf, checkForUpdate, deployIfChanged, originBaseCommit, recordCachedUpdate, type UpdateSummary } from './upgrade.js';

export interface AutomaticUpdateRequest {
  /** The policy to apply; default AutomaticUpdatePolicy of /etc/apt-ostreed.conf (the daemon passes its own). */
  policy?: AutomaticUpdatePolicy | undefined;
}

export interface AutomaticUpdateResult {
  policy: AutomaticUpdatePolicy;
  /** What the check found (check), or what was staged (stage); null with policy none. */
  update: UpdateSummary | null;
  /** stage: a new deployment was staged for the next boot. */
  staged: boolean;
  /** stage: the update was pending already (staged by an earlier run, or deployed by hand), so nothing was done. */
  alreadyPending: boolean;
}

const STAGE_NEEDS = 'stages a deployment that the running system finalizes when it shuts down';
const unchanged: UpdateSummary = { changed: false, refspec: '', from: { checksum: '', version: null }, to: null, diff: null };

/**
 * `upgrade --trigger-automatic-update-policy` (what apt-ostreed-automatic.timer runs, like rpm-ostree's
 * AutomaticUpdateTrigger): none does nothing; check looks for an update and records it (status shows it as
 * AvailableUpdate); stage also builds the new deployment (layering re-applied) and stages it, so that it becomes the
 * default only when the machine shuts down. Staging needs the booted system; checking works on any sysroot.
 */
export async function automaticUpdate(opts: EngineOptions, req: AutomaticUpdateRequest): Promise<AutomaticUpdateResult> {
  const policy = req.policy ?? (await loadConfig()).automaticUpdatePolicy;
  if (policy === 'none') return { policy, update: null, staged: false, alreadyPending: false };
  if (policy === 'check') {
    const update = await checkForUpdate(opts, true);
    await recordCachedUpdate(opts, update);
    return { policy, update, staged: false, alreadyPending: false };
  }
  requireBooted(await openOs(opts), 'AutomaticUpdatePolicy=stage', STAGE_NEEDS);
  return withSysrootLock(opts, 'automatic update (stage)', async () => {
    const view = await openOs(opts);
    requireBooted(view, 'AutomaticUpdatePolicy=stage', STAGE_NEEDS);
    // Like every change, the update starts from the origin base: a pending deployment keeps its packages and kargs.
    const refspec = followedRefspec(view.originBase);
    const base = await originBaseCommit(view);
    const repo = view.sysroot.repoPath;
    const target = refspec.remote === undefined
      ? (await revParse(repo, refspec.ref)) ?? base
      : await task(opts.progress, `Pulling ${formatRefspec(refspec)}`, () =>
        pull(repo, refspec.remote ?? '', refspec.ref, { progress: opts.progress, signal: opts.signal }));
    // The timer fires again and again: a pending deployment (staged by an earlier run, or deployed by hand) of that
    // commit already is the update.
    const bootedBase = await baseCommitOf(view, view.mergeDeployment);
    if (view.originBase !== view.mergeDeployment && base === target && target !== bootedBase) {
      await recordCachedUpdate(opts, unchanged);
      const [fromInfo, toInfo] = await Promise.all([commitInfo(repo, bootedBase), commitInfo(repo, target)]);
      const update: UpdateSummary = {
        changed: false, refspec: formatRefspec(refspec), from: { checksum: bootedBase, version: fromInfo.version ?? null },
        to: { checksum: target, version: toInfo.version ?? null, timestamp: toInfo.timestamp }, diff: null,
      };
      return { policy, update, staged: false, alreadyPending: true };
    }
    const update = await deployIfChanged(opts, view, refspec, base, target, false, true);
    // Staged, the update is no longer "available": status shows the staged deployment instead.
    await recordCachedUpdate(opts, unchanged);
    return { policy, update, staged: update.changed, alreadyPending: false };
  });
}
