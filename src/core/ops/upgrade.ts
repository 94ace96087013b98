import { AptOstreeError } from '../../lib/errors.js';
import { commitInfo, commitMetadataString, revParse } from '../ostree/repo.js';
import { pull, withScratchRepo } from '../ostree/pull.js';
import { originForNewDeployment } from '../origin.js';
import { diffPackages, readCommitPackages, type PackageDiff } from '../packages.js';
import { task } from '../progress.js';
import { formatRefspec, type Refspec } from '../refspec.js';
import { followedRefspec } from './base-source.js';
import { openOs, withSysrootLock, type EngineOptions, type OsView } from './context.js';
import { deployCommit } from './new-deployment.js';
import { hasRequests, readRequests } from '../layering-requests.js';
import { deployLayered, type PkgChangeResult } from './pkg/deploy-layered.js';
import { writeCachedUpdate, type CachedUpdate } from '../cached-update.js';
import type { Deployment } from '../sysroot/deployment.js';

/**
 * Deploys a new base under the origin base's requests (the pending deployment's when there is one): plainly, or with
 * its layered packages and overrides re-applied on the new base (requests the new base satisfies become inactive).
 */
export async function deployBase(
  opts: EngineOptions,
  view: OsView,
  refspec: Refspec,
  base: string,
  overrideCommit: string | undefined,
  stage = false,
): Promise<PkgChangeResult | null> {
  const requests = readRequests(view.originBase.origin);
  if (!hasRequests(requests)) {
    await deployCommit(opts, view, base, originForNewDeployment(view.originBase.origin, formatRefspec(refspec), overrideCommit),
      undefined, stage);
    return null;
  }
  return deployLayered(opts, view, { base, refspec: formatRefspec(refspec), requests, overrideCommit, stage });
}

export interface UpgradeRequest {
  check?: boolean;
  preview?: boolean;
  allowDowngrade?: boolean;
}

export interface UpdateSummary {
  /** True when a new deployment was written (or, for --check/--preview, would be). */
  changed: boolean;
  refspec: string;
  from: { checksum: string; version: string | null };
  to: { checksum: string; version: string | null; timestamp: number } | null;
  diff: PackageDiff | null;
  /** The layering re-applied on the new base (inactive requests included), when the deployment has any. */
  layering?: PkgChangeResult | null;
}

/** The base commit of a deployment: the base of a layered deployment, or the deployment's commit. */
export async function baseCommitOf(view: OsView, d: Deployment): Promise<string> {
  return (await commitMetadataString(view.sysroot.repoPath, d.checksum, 'apt-ostree.base')) ?? d.checksum;
}

/** The commit a change or an update starts from: the origin base's base commit. */
export function originBaseCommit(view: OsView): Promise<string> {
  return baseCommitOf(view, view.originBase);
}

export async function upgrade(opts: EngineOptions, req: UpgradeRequest): Promise<UpdateSummary> {
  if (req.check || req.preview) {
    const summary = await checkForUpdate(opts, req.preview ?? false);
    // Only root can write the stateroot's cache; for anybody else a check stays a pure read, as it always was.
    if (process.getuid?.() === 0) {
      await recordCachedUpdate(opts, summary).catch((err: unknown) => {
        opts.progress.message(`note: the update found was not recorded: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    return summary;
  }
  return withSysrootLock(opts, 'upgrade', async () => {
    const view = await openOs(opts);
    const refspec = followedRefspec(view.originBase);
    const base = await originBaseCommit(view);
    const target = await task(opts.progress, `Pulling ${formatRefspec(refspec)}`, () => fetchTip(opts, view, refspec));
    return deployIfChanged(opts, view, refspec, base, target, req.allowDowngrade ?? false);
  });
}

async function fetchTip(opts: EngineOptions, view: OsView, refspec: Refspec): Promise<string> {
  if (refspec.remote === undefined) {
    const local = await revParse(view.sysroot.repoPath, refspec.ref);
    if (local === undefined) {
      throw new AptOstreeError('unknown-revision', `no commit matches '${refspec.ref}' in the local repository`,
        'rebase onto a remote ref: `apt-ostree rebase REMOTE:REF`');
    }
    return local;
  }
  return pull(view.sysroot.repoPath, refspec.remote, refspec.ref, { progress: opts.progress, signal: opts.signal });
}

export async function deployIfChanged(
  opts: EngineOptions,
  view: OsView,
  refspec: Refspec,
  base: string,
  target: string,
  allowDowngrade: boolean,
  stage = false,
): Promise<UpdateSummary> {
  const repo = view.sysroot.repoPath;
  const [fromInfo, toInfo] = await Promise.all([commitInfo(repo, base), commitInfo(repo, target)]);
  const summary: UpdateSummary = {
    changed: target !== base,
    refspec: formatRefspec(refspec),
    from: { checksum: base, version: fromInfo.version ?? null },
    to: { checksum: target, version: toInfo.version ?? null, timestamp: toInfo.timestamp },
    diff: null,
  };
  if (!summary.changed) return summary;
  if (toInfo.timestamp < fromInfo.timestamp && !allowDowngrade) {
    throw new AptOstreeError('invalid-argument',
      `the new commit ${target.slice(0, 12)} is older than the base ${base.slice(0, 12)} it would replace: that is a downgrade`,
      'use `apt-ostree deploy` to go to an older version on purpose');
  }
  summary.diff = diffPackages(await readCommitPackages(repo, base), await readCommitPackages(repo, target));
  summary.layering = await deployBase(opts, view, refspec, target, undefined, stage);
  return summary;
}

/** The update a check found as `status` shows it (AvailableUpdate); no update clears the record. */
export async function recordCachedUpdate(opts: Pick<EngineOptions, 'sysroot' | 'osname'>, summary: UpdateSummary): Promise<void> {
  const view = await openOs(opts);
  const update: CachedUpdate | null = summary.changed && summary.to !== null ? {
    osname: view.osname, origin: summary.refspec, checksum: summary.to.checksum, version: summary.to.version,
    timestamp: summary.to.timestamp, 'checked-at': Math.floor(Date.now() / 1000), diff: summary.diff,
  } : null;
  await writeCachedUpdate(view.sysroot.path, view.osname, update);
}

/** --check and --preview look at the remote through a scratch repository: the sysroot is not touched. */
export async function checkForUpdate(opts: EngineOptions, preview: boolean): Promise<UpdateSummary> {
  const view = await openOs(opts);
  const refspec = followedRefspec(view.originBase);
  const base = await originBaseCommit(view);
  const repo = view.sysroot.repoPath;
  const fromInfo = await commitInfo(repo, base);
  const summarize = async (lookRepo: string, target: string): Promise<UpdateSummary> => {
    const toInfo = await commitInfo(lookRepo, target);
    return {
      changed: target !== base,
      refspec: formatRefspec(refspec),
      from: { checksum: base, version: fromInfo.version ?? null },
      to: { checksum: target, version: toInfo.version ?? null, timestamp: toInfo.timestamp },
      diff: preview && target !== base
        ? diffPackages(await readCommitPackages(repo, base), await readCommitPackages(lookRepo, target))
        : null,
    };
  };
  if (refspec.remote === undefined) {
    const local = await fetchTip(opts, view, refspec);
    return summarize(repo, local);
  }
  const remote = refspec.remote;
  return withScratchRepo(repo, remote, async (scratch) => {
    const target = await task(opts.progress, `Checking ${formatRefspec(refspec)}`, () =>
      pull(scratch, remote, refspec.ref, {
        progress: opts.progress, signal: opts.signal, ...(preview ? { subpath: '/usr/share/dpkg/database' } : { commitMetadataOnly: true }),
      }));
    return summarize(scratch, target);
  });
}
