import { pull } from '../ostree/pull.js';
import { hasCommit, revParse } from '../ostree/repo.js';
import { diffPackages, readCommitPackages } from '../packages.js';
import { task } from '../progress.js';
import { formatRefspec, parseRefspec, type Refspec } from '../refspec.js';
import { followedRefspec } from './base-source.js';
import { openOs, withSysrootLock, type EngineOptions, type OsView } from './context.js';
import { resolveRevision } from './resolve-revision.js';
import { deployBase, originBaseCommit, type UpdateSummary } from './upgrade.js';
import { commitInfo } from '../ostree/repo.js';

export interface DeployRequest {
  revision: string;
}

export interface RebaseRequest {
  refspec: string;
  revision?: string | undefined;
}

/** `deploy REV`: a given commit of the followed ref, kept there (origin override-commit) until the next upgrade. */
export async function deploy(opts: EngineOptions, req: DeployRequest): Promise<UpdateSummary> {
  return withSysrootLock(opts, `deploy ${req.revision}`, async () => {
    const view = await openOs(opts);
    const refspec = followedRefspec(view.originBase);
    const target = await resolveRevision(opts, view, refspec, req.revision);
    return switchTo(opts, view, refspec, target, target);
  });
}

/** `rebase REFSPEC [REV]`: follow another ref (a bare REF keeps the remote followed now). */
export async function rebase(opts: EngineOptions, req: RebaseRequest): Promise<UpdateSummary> {
  const asked = parseRefspec(req.refspec);
  return withSysrootLock(opts, `rebase ${req.refspec}`, async () => {
    const view = await openOs(opts);
    const followed = followedRefspec(view.originBase);
    const refspec: Refspec = asked.remote === undefined ? { remote: followed.remote, ref: asked.ref } : asked;
    if (req.revision !== undefined) {
      const target = await resolveRevision(opts, view, refspec, req.revision);
      return switchTo(opts, view, refspec, target, target);
    }
    const target = refspec.remote === undefined
      ? await resolveRevision(opts, view, refspec, (await revParse(view.sysroot.repoPath, refspec.ref)) ?? refspec.ref)
      : await task(opts.progress, `Pulling ${formatRefspec(refspec)}`, () =>
        pull(view.sysroot.repoPath, refspec.remote ?? '', refspec.ref, { progress: opts.progress, signal: opts.signal }));
    return switchTo(opts, view, refspec, target, undefined);
  });
}

async function switchTo(
  opts: EngineOptions,
  view: OsView,
  refspec: Refspec,
  target: string,
  overrideCommit: string | undefined,
): Promise<UpdateSummary> {
  const repo = view.sysroot.repoPath;
  if (refspec.remote !== undefined && !(await hasCommit(repo, target))) {
    await task(opts.progress, `Pulling ${target.slice(0, 12)}`, () =>
      pull(repo, refspec.remote ?? '', target, { progress: opts.progress, signal: opts.signal }));
  }
  const base = await originBaseCommit(view);
  const [fromInfo, toInfo] = await Promise.all([commitInfo(repo, base), commitInfo(repo, target)]);
  const diff = diffPackages(await readCommitPackages(repo, base), await readCommitPackages(repo, target));
  const layering = await deployBase(opts, view, refspec, target, overrideCommit);
  return {
    layering,
    changed: true,
    refspec: formatRefspec(refspec),
    from: { checksum: base, version: fromInfo.version ?? null },
    to: { checksum: target, version: toInfo.version ?? null, timestamp: toInfo.timestamp },
    diff,
  };
}
