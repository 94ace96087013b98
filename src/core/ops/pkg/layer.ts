import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAptEnvironment, type AptEnvironment } from '../../apt/apt-env.js';
import type { LayeringPlan } from '../../apt/plan.js';
import { parseNameRequest, parsePackageRequest, type PackageRequest } from '../../apt/package-request.js';
import { resolvePlan } from '../../apt/resolve.js';
import { downloadPlan } from '../../apt/download.js';
import { refreshMetadata } from '../../apt/update.js';
import { APT_EXTENDED_STATES, DPKG_DATABASE } from '../../compose/contract-paths.js';
import { buildLayeredCommit } from '../../layering/build.js';
import { DRACUT, dracutMissing } from '../../layering/initramfs.js';
import { removeStaleWorkTrees } from '../../layering/work-tree.js';
import { hasPackageRequests, type LayeringRequests } from '../../layering-requests.js';
import { ostreeUnchecked } from '../../ostree/ostree-cli.js';
import { readCommitPackages, type InstalledPackage } from '../../packages.js';
import { task } from '../../progress.js';
import { checkCancelled, type EngineOptions, type OsView } from '../context.js';
import { isLocalRequest, requestName } from './change-requests.js';
import { layeringPaths } from './paths.js';

export interface LayerOptions {
  dryRun?: boolean;
  /** Force `apt-get update` even when the lists are fresh. */
  refresh?: boolean;
}

export interface LayeringOutcome {
  /** The layered commit, or null for a dry run. */
  checksum: string | null;
  plan: LayeringPlan;
  /** Requests the base already satisfies: recorded, not installed. */
  inactive: string[];
}

/** An apt environment that resolves against `base`'s own dpkg database, with the merge deployment's sources. */
export async function aptEnvironmentFor(opts: EngineOptions, view: OsView, base: string): Promise<AptEnvironment> {
  const paths = layeringPaths(view);
  const baseDir = join(paths.cacheDir, 'base', base);
  await mkdir(baseDir, { recursive: true });
  const repo = view.sysroot.repoPath;
  const statusFile = join(baseDir, 'status');
  const extendedStatesFile = join(baseDir, 'extended_states');
  await writeFile(statusFile, (await ostreeUnchecked(['cat', `--repo=${repo}`, base, `/${DPKG_DATABASE}/status`])).stdout);
  const ext = await ostreeUnchecked(['cat', `--repo=${repo}`, base, `/${APT_EXTENDED_STATES}`]);
  await writeFile(extendedStatesFile, ext.code === 0 ? ext.stdout : '');
  checkCancelled(opts.signal);
  return createAptEnvironment({ etcAptDir: paths.etcAptDir, statusFile, extendedStatesFile, cacheDir: paths.cacheDir });
}

/** Splits requests into what apt must install and what the base already has (inactive). */
export function activeRequests(requests: readonly PackageRequest[], base: readonly InstalledPackage[]): { active: PackageRequest[]; inactive: string[] } {
  const inBase = new Map(base.map((p) => [p.name, p.version]));
  const active: PackageRequest[] = [];
  const inactive: string[] = [];
  for (const r of requests) {
    const have = inBase.get(r.name);
    const satisfied = have !== undefined && (r.kind === 'name' ? r.version === undefined || r.version === have : r.version === have);
    if (satisfied) inactive.push(r.name); else active.push(r);
  }
  return { active, inactive };
}

export function localDebPath(view: OsView, recorded: string): string {
  if (recorded.startsWith('file:')) return recorded.slice(recorded.indexOf(':', 'file:'.length) + 1);
  const hex = recorded.split(':')[1] ?? '';
  return join(layeringPaths(view).localDebsDir, `${hex}.deb`);
}

async function parseRecorded(view: OsView, recorded: readonly string[], signal: AbortSignal | undefined): Promise<PackageRequest[]> {
  const out: PackageRequest[] = [];
  for (const r of recorded) {
    out.push(isLocalRequest(r) ? await parsePackageRequest(localDebPath(view, r), { signal }) : parseNameRequest(r));
  }
  return out;
}

/**
 * Builds the layered commit for `requests` on `base`: apt resolves against the base's dpkg database with the base
 * held, downloads into the stateroot's cache, and dpkg runs in bubblewrap on a new tree (src/core/layering).
 */
export async function layerOnto(
  opts: EngineOptions,
  view: OsView,
  base: string,
  requests: LayeringRequests,
  o: LayerOptions = {},
): Promise<LayeringOutcome> {
  const repo = view.sysroot.repoPath;
  const paths = layeringPaths(view);
  const packages = hasPackageRequests(requests);
  // Without packages to layer, dracut can only come from the base: say so before checking anything out.
  if (!packages && requests.regenerateInitramfs
    && (await ostreeUnchecked(['ls', `--repo=${repo}`, base, `/${DRACUT}`])).code !== 0) throw dracutMissing();
  const { plan, inactive, env } = packages
    ? await planPackages(opts, view, base, requests, o)
    // The initramfs alone needs no apt (so it works offline): the base's own packages, dracut included, rebuild it.
    : { plan: EMPTY_PLAN, inactive: [], env: undefined };
  if (o.dryRun) return { checksum: null, plan, inactive };

  const downloaded = env === undefined ? plan : await task(opts.progress, 'Downloading packages', () =>
    downloadPlan(env, plan, { progress: opts.progress, signal: opts.signal }));
  await mkdir(paths.workDir, { recursive: true });
  await removeStaleWorkTrees(paths.workDir);
  // The /etc the new deployment will get is the merge deployment's: the live one when booted.
  const localEtc = view.mergeDeployment.booted ? '/etc' : join(view.mergeDeployment.path, 'etc');
  const built = await buildLayeredCommit({
    repo, baseCommit: base, plan: downloaded, workDir: paths.workDir, localEtc,
    requested: [...requests.packages, ...requests.localPackages.map(requestName)],
    initramfs: requests.regenerateInitramfs ? { args: requests.initramfsArgs, etc: localEtc } : undefined,
    progress: opts.progress, signal: opts.signal,
  });
  return { checksum: built.checksum, plan: downloaded, inactive };
}

const EMPTY_PLAN: LayeringPlan = { install: [], remove: [], steps: [], downloadBytes: 0 };

/** apt's side: the plan for the package requests on `base`, resolved against the base's own dpkg database. */
async function planPackages(opts: EngineOptions, view: OsView, base: string, requests: LayeringRequests, o: LayerOptions):
  Promise<{ plan: LayeringPlan; inactive: string[]; env: AptEnvironment }> {
  const basePackages = await readCommitPackages(view.sysroot.repoPath, base);
  const env = await aptEnvironmentFor(opts, view, base);
  await task(opts.progress, 'Updating package metadata', () =>
    refreshMetadata(env, { force: o.refresh ?? false, progress: opts.progress, signal: opts.signal }));
  const wanted = await parseRecorded(view, [...requests.packages, ...requests.localPackages], opts.signal);
  const { active, inactive } = activeRequests(wanted, basePackages);
  const replace = await parseRecorded(view, requests.replacements, opts.signal);
  const plan = await task(opts.progress, 'Resolving dependencies', () => resolvePlan(env, {
    install: active, remove: requests.removals, replace, basePackages, signal: opts.signal,
  }));
  return { plan, inactive, env };
}
