import { refreshMetadata, type RefreshResult } from '../../apt/update.js';
import { searchPackages, type PackageSummary } from '../../apt/search.js';
import { readLayeredMetadata } from '../../layering/commit.js';
import { readCommitPackages } from '../../packages.js';
import { task } from '../../progress.js';
import { packageMatcher } from '../db.js';
import { deploymentAtIndex } from '../kargs.js';
import { openOs, withSysrootLock, type EngineOptions } from '../context.js';
import { originBaseCommit } from '../upgrade.js';
import { aptEnvironmentFor } from './layer.js';

export interface ListedPackage {
  name: string;
  version: string;
  architecture: string;
  /** base: from the base image; layered: added by layering; override: a base package replaced by another version. */
  origin: 'base' | 'layered' | 'override';
}

export interface ListResult {
  checksum: string;
  packages: ListedPackage[];
  /** Base packages removed by `override remove`. */
  removed: string[];
}

/** The installed packages of a deployment (default: the booted one, offline the default one), each marked with where it comes from. */
export async function listPackages(opts: EngineOptions, pattern: string | undefined, deployIndex?: number): Promise<ListResult> {
  const view = await openOs(opts);
  const d = deploymentAtIndex(view, deployIndex, view.mergeDeployment);
  const repo = view.sysroot.repoPath;
  const meta = await readLayeredMetadata(repo, d.checksum);
  const layered = new Set(meta?.layered.map((p) => p.name) ?? []);
  const replaced = new Set(meta?.replaced.map((p) => p.name) ?? []);
  const matches = packageMatcher(pattern);
  const packages = (await readCommitPackages(repo, d.checksum)).filter((p) => matches(p.name)).map((p): ListedPackage => ({
    name: p.name, version: p.version, architecture: p.architecture,
    origin: layered.has(p.name) ? 'layered' : replaced.has(p.name) ? 'override' : 'base',
  }));
  return { checksum: d.checksum, packages, removed: meta?.removed.map((p) => p.name) ?? [] };
}

/** Packages the configured repositories offer, resolved for the base a change starts from. */
export async function search(opts: EngineOptions, terms: string[]): Promise<PackageSummary[]> {
  const view = await openOs(opts);
  const env = await aptEnvironmentFor(opts, view, await originBaseCommit(view));
  await refreshMetadata(env, { progress: opts.progress, signal: opts.signal });
  return searchPackages(env, terms, { signal: opts.signal });
}

/** `refresh-md`: update the package metadata cache now (`-f` even when it is fresh). */
export async function refreshMd(opts: EngineOptions, force: boolean): Promise<RefreshResult> {
  return withSysrootLock(opts, 'refresh-md', async () => {
    const view = await openOs(opts);
    const env = await aptEnvironmentFor(opts, view, await originBaseCommit(view));
    return task(opts.progress, 'Updating package metadata', () =>
      refreshMetadata(env, { force, progress: opts.progress, signal: opts.signal }));
  });
}
