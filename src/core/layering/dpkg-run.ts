/**
 * Replays apt's plan with dpkg inside the work tree. apt has already ordered the steps (Pre-Depends, configure
 * order, removals); here consecutive steps of one kind become one dpkg call, which orders configuration among
 * its arguments by itself, so a plan of "unpack a, unpack b, configure b, configure a" costs two dpkg runs.
 *
 * dpkg runs with the tree as `/` and `--admindir` pointing at the tree's database (the base image contract's
 * /usr/share/dpkg/database); the .debs are bound read-only below /run/apt-ostree/debs. Conffile questions take the
 * default or keep the current file (--force-confdef --force-confold), as unattended upgrades do.
 */
import { AptOstreeError } from '../../lib/errors.js';
import { abs, DPKG_DATABASE } from '../compose/contract-paths.js';
import { silentProgress, task, type ProgressSink } from '../progress.js';
import type { LayeringPlan, PlannedPackage, PlanStep } from '../apt/plan.js';
import { dpkgFailedError, parseDpkgFailure } from './dpkg-failure.js';
import { writeExtendedStates } from './extended-states.js';
import { runInTree, type TreeBind } from './sandbox.js';

export const DEBS_IN_SANDBOX = '/run/apt-ostree/debs';

/**
 * --force-unsafe-io: dpkg skips its fsync per file. The tree is scratch until `ostree commit`, which writes and
 * syncs its own objects, so a crash loses nothing that counts, and dpkg runs several times faster.
 */
const DPKG = ['dpkg', `--admindir=${abs(DPKG_DATABASE)}`, '--force-confdef', '--force-confold', '--force-unsafe-io'];

export interface ApplyPlanOptions {
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Every line dpkg and the maintainer scripts print. */
  onLine?: (line: string) => void;
}

export interface ApplyPlanResult {
  /** dpkg's native architecture in the tree. */
  nativeArch: string;
  /** The dpkg runs, in order, as `dpkg --unpack a b` (for logs). */
  runs: string[];
}

/** Consecutive steps of the same kind (and the same purge flag) merged into one. */
export function batchSteps(steps: readonly PlanStep[]): PlanStep[] {
  const batches: PlanStep[] = [];
  for (const step of steps) {
    const last = batches.at(-1);
    const samePurge = last?.kind !== 'remove' || step.kind !== 'remove' || last.purge === step.purge;
    if (last && last.kind === step.kind && samePurge) {
      last.packages.push(...step.packages);
    } else {
      batches.push({ ...step, packages: [...step.packages] });
    }
  }
  return batches;
}

/** The file name of a .deb as apt's cache names it: name_version_arch.deb with `:` of an epoch as %3a. */
export function debFileName(pkg: Pick<PlannedPackage, 'name' | 'version' | 'arch'>): string {
  return `${pkg.name}_${pkg.version.replaceAll(':', '%3a')}_${pkg.arch}.deb`;
}

interface PackageIndex {
  /** `name:arch` as dpkg accepts it, for a plan key. */
  dpkgName: (key: string) => string;
  /** The planned package to unpack for a plan key. */
  toUnpack: (key: string) => PlannedPackage;
}

/**
 * Names, architectures and versions end up in dpkg's argument list and in bind destinations: a name starting with
 * `-` would be read as an option, a `/` in a version would leave /run/apt-ostree/debs. Debian Policy 5.6.1, 5.6.12.
 */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]*$/;
const ARCH = /^[a-z0-9][a-z0-9-]*$/;
const VERSION = /^[A-Za-z0-9.+~:-]+$/;

function checkPackage(p: { name: string; arch: string; version: string }): void {
  if (!PACKAGE_NAME.test(p.name) || !ARCH.test(p.arch) || !VERSION.test(p.version)) {
    throw new AptOstreeError('invalid-argument', `the plan names an invalid package: ${JSON.stringify([p.name, p.arch, p.version])}`,
      'package names, architectures and versions must follow Debian Policy');
  }
}

function indexPlan(plan: LayeringPlan): PackageIndex {
  for (const p of [...plan.install, ...plan.remove]) checkPackage(p);
  const byKey = new Map<string, { name: string; arch: string }>();
  const installs = new Map<string, PlannedPackage>();
  const byName = new Map<string, PlannedPackage[]>();
  for (const p of plan.install) {
    installs.set(`${p.name}:${p.arch}`, p);
    byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
  }
  for (const r of plan.remove) byKey.set(`${r.name}:${r.arch}`, r);
  for (const p of plan.install) byKey.set(`${p.name}:${p.arch}`, p);
  const findInstall = (key: string): PlannedPackage | undefined => {
    const exact = installs.get(key);
    if (exact) return exact;
    const sameName = byName.get(key.split(':')[0] ?? key) ?? [];
    return sameName.length === 1 ? sameName[0] : undefined;
  };
  return {
    dpkgName: (key) => {
      const p = byKey.get(key) ?? findInstall(key);
      if (p) return `${p.name}:${p.arch}`;
      // A step may name an installed package the plan does not list (apt reconfiguring a base package).
      if (!/^[a-z0-9][a-z0-9+.-]*(:[a-z0-9][a-z0-9-]*)?$/.test(key)) {
        throw new AptOstreeError('invalid-argument', `the plan names an invalid package: ${JSON.stringify(key)}`,
          'package names and architectures must follow Debian Policy');
      }
      return key;
    },
    toUnpack: (key) => {
      const p = findInstall(key);
      if (!p) throw new AptOstreeError('internal', `the plan unpacks ${key}, which is not among its packages`);
      if (p.debPath === undefined) {
        throw new AptOstreeError('internal', `${p.name} ${p.version} has not been downloaded (no .deb path in the plan)`);
      }
      return p;
    },
  };
}

/** dpkg's progress lines, one per package and phase. */
const PROGRESS_LINE = /^(Unpacking|Setting up|Removing|Purging configuration files for) /;

function describeBatch(step: PlanStep): string {
  const verb = step.kind === 'unpack' ? 'Unpacking' : step.kind === 'configure' ? 'Configuring'
    : step.purge ? 'Purging' : 'Removing';
  const names = step.packages.map((k) => k.split(':')[0] ?? k);
  const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
  return `${verb} ${shown}`;
}

export async function applyPlan(tree: string, plan: LayeringPlan, opts: ApplyPlanOptions = {}): Promise<ApplyPlanResult> {
  const progress = opts.progress ?? silentProgress;
  const index = indexPlan(plan);
  const batches = batchSteps(plan.steps);
  const binds: TreeBind[] = [];
  const archiveToPackage = new Map<string, string>();
  for (const step of batches) {
    if (step.kind !== 'unpack') continue;
    for (const key of step.packages) {
      const pkg = index.toUnpack(key);
      const inSandbox = `${DEBS_IN_SANDBOX}/${debFileName(pkg)}`;
      if (archiveToPackage.has(inSandbox)) continue;
      archiveToPackage.set(inSandbox, pkg.name);
      binds.push({ src: pkg.debPath ?? '', dest: inSandbox, ro: true });
    }
  }

  const total = batches.reduce((n, s) => n + s.packages.length, 0);
  let done = 0;
  const overall = 'Running dpkg';
  const runs: string[] = [];
  const dpkg = async (args: string[], label: string): Promise<string[]> => {
    runs.push(`dpkg ${args.join(' ')}`);
    const r = await runInTree(tree, [...DPKG, ...args], {
      binds,
      signal: opts.signal,
      onLine: (line) => {
        opts.onLine?.(line);
        if (PROGRESS_LINE.test(line) && total > 0) {
          done = Math.min(total, done + 1);
          progress.percent(overall, Math.round((100 * done) / total));
        }
      },
    });
    if (r.code !== 0) {
      throw dpkgFailedError(label, r.tail, parseDpkgFailure(r.tail, (path) => archiveToPackage.get(path)));
    }
    return r.tail;
  };

  progress.percent(overall, 0);
  for (const step of batches) {
    await task(progress, describeBatch(step), async () => {
      if (step.kind === 'unpack') {
        const debs = step.packages.map((k) => `${DEBS_IN_SANDBOX}/${debFileName(index.toUnpack(k))}`);
        await dpkg(['--abort-after=1', '--unpack', ...debs], 'dpkg --unpack');
      } else if (step.kind === 'configure') {
        await dpkg(['--abort-after=1', '--configure', ...step.packages.map(index.dpkgName)], 'dpkg --configure');
      } else {
        const action = step.purge ? '--purge' : '--remove';
        await dpkg(['--abort-after=1', action, ...step.packages.map(index.dpkgName)], `dpkg ${action}`);
      }
    });
  }
  await task(progress, 'Checking the package database', async () => {
    // Anything apt's plan left half-installed gets configured now, pending triggers run; then dpkg must be content.
    await dpkg(['--configure', '-a'], 'dpkg --configure -a');
    const audit = (await dpkg(['--audit'], 'dpkg --audit')).filter((l) => l.trim() !== '');
    if (audit.length > 0) {
      throw new AptOstreeError('dpkg-failed', `dpkg --audit reports problems in the new tree: ${audit.slice(0, 8).join('; ')}`,
        'nothing was committed; the plan left packages half-installed: report this with the package list');
    }
  });
  progress.percent(overall, 100);
  const nativeArch = (await dpkg(['--print-architecture'], 'dpkg --print-architecture')).join('').trim();
  await writeExtendedStates(tree, plan, nativeArch);
  return { nativeArch, runs };
}
