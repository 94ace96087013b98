import { AptOstreeError } from '../../lib/errors.js';
import { commitHistory, commitInfo, hasCommit, isChecksum, revParse } from '../ostree/repo.js';
import { originRefspec } from '../origin.js';
import { diffPackages, readCommitPackages, type InstalledPackage, type PackageDiff } from '../packages.js';
import { printable } from '../refspec.js';
import { openOs, type EngineOptions, type OsView } from './context.js';

export interface DbListResult {
  checksum: string;
  version: string | null;
  packages: InstalledPackage[];
}

export interface DbDiffResult {
  from: string;
  to: string;
  diff: PackageDiff;
}

/**
 * REV for `db`: a checksum or prefix, a ref, or a version on the history of a deployment's ref; without one, the
 * booted deployment (offline the default one).
 */
export async function resolveLocalRevision(view: OsView, rev: string | undefined): Promise<string> {
  if (rev === undefined) return view.mergeDeployment.checksum;
  const repo = view.sysroot.repoPath;
   
  if (!/^[\x20-\x7e]+$/.test(rev) || rev.startsWith('-')) throw unknown(rev);
  const direct = await revParse(repo, rev);
  if (direct !== undefined && await hasCommit(repo, direct)) return direct;
  const version = rev.startsWith('version=') ? rev.slice('version='.length) : rev;
  for (const d of view.deployments) {
    const tips = [d.checksum];
    const refspec = originRefspec(d.origin);
    const tip = refspec === undefined ? undefined : await revParse(repo, refspec);
    if (tip !== undefined) tips.push(tip);
    for (const t of tips) {
      const hit = (await commitHistory(repo, t)).find((c) => c.version === version || (/^[0-9a-f]{7,}$/.test(rev) && c.checksum.startsWith(rev)));
      if (hit) return hit.checksum;
    }
  }
  throw unknown(rev);
}

function unknown(rev: string): AptOstreeError {
  return new AptOstreeError('unknown-revision', `no commit matches '${printable(rev)}' in the local repository`,
    'give a checksum, a ref or a version of a deployed commit (see `apt-ostree status`)');
}

/** Shell-style pattern (`*`, `?`) on package names. */
export function packageMatcher(pattern: string | undefined): (name: string) => boolean {
  if (pattern === undefined) return () => true;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return (name) => re.test(name);
}

export async function dbList(opts: EngineOptions, rev: string | undefined, pattern: string | undefined): Promise<DbListResult> {
  const view = await openOs(opts);
  const checksum = await resolveLocalRevision(view, rev);
  const matches = packageMatcher(pattern);
  const info = await commitInfo(view.sysroot.repoPath, checksum);
  const packages = (await readCommitPackages(view.sysroot.repoPath, checksum)).filter((p) => matches(p.name));
  return { checksum, version: info.version ?? null, packages };
}

/**
 * Without arguments: the booted deployment (offline the default one) against the pending one when there is one ahead
 * of it, else the rollback against the booted one (what the last upgrade, deploy or rollback changed).
 */
export async function dbDiff(opts: EngineOptions, from: string | undefined, to: string | undefined): Promise<DbDiffResult> {
  const view = await openOs(opts);
  let fromSum: string;
  let toSum: string;
  if (from !== undefined) {
    fromSum = await resolveLocalRevision(view, from);
    toSum = to !== undefined ? await resolveLocalRevision(view, to) : view.mergeDeployment.checksum;
  } else if (view.pending[0]) {
    fromSum = view.mergeDeployment.checksum;
    toSum = view.pending[0].checksum;
  } else if (view.rollback) {
    fromSum = view.rollback.checksum;
    toSum = view.mergeDeployment.checksum;
  } else {
    throw new AptOstreeError('nothing-to-do', 'there is only one deployment: nothing to compare',
      'name two revisions: `apt-ostree db diff FROM TO`');
  }
  const repo = view.sysroot.repoPath;
  const diff = diffPackages(await readCommitPackages(repo, fromSum), await readCommitPackages(repo, toSum));
  return { from: fromSum, to: toSum, diff };
}

export interface DbVersionResult {
  checksum: string;
  packages: number;
  dpkgVersion: string | null;
}

/** The dpkg database of a commit: how many packages, and which dpkg wrote it. */
export async function dbVersion(opts: EngineOptions, rev: string | undefined): Promise<DbVersionResult> {
  const view = await openOs(opts);
  const checksum = isChecksum(rev ?? '') ? (rev ?? '') : await resolveLocalRevision(view, rev);
  const packages = await readCommitPackages(view.sysroot.repoPath, checksum);
  const dpkg = packages.find((p) => p.name === 'dpkg');
  return { checksum, packages: packages.length, dpkgVersion: dpkg?.version ?? null };
}
