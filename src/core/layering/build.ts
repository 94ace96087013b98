/**
 * Builds a layered commit from a base commit and apt's plan:
 *
 *   checkout -H (private copies of what dpkg writes in place) → /var from tmpfiles.d → local accounts reserved
 *   → dpkg replays the plan in bubblewrap → accounts recorded (sysusers.d) → dracut rebuilds the initramfs (when the
 *   origin asks for it) → tree back to the base image contract → shared inodes verified untouched → ostree commit
 *   (parent = base)
 *
 * The work tree is removed in every case: success, failure, cancellation. Nothing here writes into an object of
 * the repository: the hardlinked files are only ever renamed over or unlinked, and the inode check before the
 * commit refuses a tree in which a script wrote through one (see shared-inodes.ts).
 */
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { silentProgress, task, type ProgressSink } from '../progress.js';
import type { LayeringPlan } from '../apt/plan.js';
import { commitLayeredTree, type LayeredPackages } from './commit.js';
import { applyPlan } from './dpkg-run.js';
import { finalizeTree, type FinalizeReport } from './finalize.js';
import { listVarOpt } from './opt.js';
import { populateVar } from './sandbox.js';
import { assertNoInPlaceWrites, snapshotSharedInodes } from './shared-inodes.js';
import {
  diffAccounts,
  readAccounts,
  releaseLocalAccounts,
  previouslyLayeredAccounts, reserveLocalAccounts,
  writeSysusersFragment,
  type AccountReservation,
  type LayeredAccounts,
} from './users.js';
import { checkoutForLayering, removeWorkTree } from './work-tree.js';
import { regenerateInitramfs } from './initramfs.js';
import { lstatOrNull } from '../compose/tree-fs.js';

export interface BuildLayeredCommitOptions {
  /** The sysroot's bare repository. */
  repo: string;
  baseCommit: string;
  plan: LayeringPlan;
  /** Where the work tree goes; must be on the repository's filesystem (the stateroot's var/tmp). */
  workDir: string;
  /**
   * The /etc of the deployment the new one follows (the booted one). Its users and groups are reserved while
   * maintainer scripts run, so the ids they pick do not clash with local accounts.
   */
  localEtc?: string;
  /** What the user asked for, as the origin records it; default the names of the plan's requested packages. */
  requested?: string[];
  /** Regenerate the initramfs with the tree's dracut after the packages; `etc` is the /etc dracut reads. */
  initramfs?: { args: readonly string[]; etc?: string | undefined } | undefined;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** dpkg's and the maintainer scripts' output, line by line. */
  onLine?: (line: string) => void;
}

export type BuildPhase = 'checkout' | 'prepare' | 'dpkg' | 'accounts' | 'initramfs' | 'finalize' | 'verify' | 'commit' | 'cleanup';

export interface LayeredBuildResult {
  checksum: string;
  packages: LayeredPackages;
  /** Users and groups the scripts created (also in usr/lib/sysusers.d/apt-ostree-layered.conf of the commit). */
  accounts: LayeredAccounts;
  finalize: FinalizeReport;
  /** Things the user should know; the commit is fine regardless. */
  warnings: string[];
  /** The dpkg command lines that ran, in order. */
  dpkgRuns: string[];
  /** Milliseconds per phase. */
  timings: Partial<Record<BuildPhase, number>>;
}

export function layeredPackagesOf(plan: LayeringPlan, requested?: readonly string[]): LayeredPackages {
  return {
    layered: plan.install.filter((p) => p.baseVersion === undefined).map((p) => ({ name: p.name, version: p.version })),
    replaced: plan.install.filter((p) => p.baseVersion !== undefined).map((p) => ({ name: p.name, version: p.version })),
    removed: plan.remove.map((p) => ({ name: p.name, version: p.version })),
    requested: [...(requested ?? plan.install.filter((p) => p.requested).map((p) => p.name))],
  };
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AptOstreeError('cancelled', 'the operation was cancelled', 'nothing was changed; run the command again when ready');
  }
}

export async function buildLayeredCommit(opts: BuildLayeredCommitOptions): Promise<LayeredBuildResult> {
  const progress = opts.progress ?? silentProgress;
  const { signal } = opts;
  const timings: Partial<Record<BuildPhase, number>> = {};
  const phase = async <T>(name: BuildPhase, title: string, fn: () => Promise<T>): Promise<T> => {
    throwIfCancelled(signal);
    const started = performance.now();
    try {
      return await task(progress, title, fn);
    } finally {
      timings[name] = Math.round(performance.now() - started);
    }
  };
  const warnings: string[] = [];
  let tree: string | undefined;
  const cleanup = async (work: string): Promise<void> => {
    const started = performance.now();
    try {
      await removeWorkTree(work);
    } finally {
      timings.cleanup = Math.round(performance.now() - started);
    }
  };
  try {
    tree = await phase('checkout', 'Checking out the base commit', () =>
      checkoutForLayering(opts.repo, opts.baseCommit, opts.workDir, { signal }));
    const work = tree;
    const { shared, optBefore, accountsBefore, reservation, machineId } = await phase('prepare', 'Preparing the tree', async () => {
      // The base's machine-id policy (empty file or none, see the treefile's machineid-compat) is kept as it was.
      const hadMachineId = (await lstatOrNull(join(work, 'usr/etc/machine-id'))) !== null;
      const sharedInodes = await snapshotSharedInodes(work, signal);
      warnings.push(...(await populateVar(work, signal)).map((l) => `systemd-tmpfiles: ${l}`));
      const before = await readAccounts(join(work, 'usr/etc'));
      const reserved: AccountReservation = opts.localEtc !== undefined
        ? await reserveLocalAccounts(work, opts.localEtc, await previouslyLayeredAccounts(opts.localEtc))
        : { users: [], groups: [] };
      return {
        shared: sharedInodes, optBefore: await listVarOpt(work), accountsBefore: before, reservation: reserved,
        machineId: hadMachineId ? 'empty' as const : 'absent' as const,
      };
    });
    // An initramfs-only build has nothing for dpkg to do: its database stays the base's, byte for byte.
    const applied = opts.plan.steps.length === 0 && opts.initramfs !== undefined ? { runs: [] }
      : await phase('dpkg', 'Installing packages', () => applyPlan(work, opts.plan, { progress, signal, onLine: opts.onLine }));
    const accounts = await phase('accounts', 'Recording new users and groups', async () => {
      await releaseLocalAccounts(work, reservation);
      const layered = diffAccounts(accountsBefore, await readAccounts(join(work, 'usr/etc')));
      await writeSysusersFragment(work, layered);
      return layered;
    });
    const initramfs = opts.initramfs;
    if (initramfs !== undefined) {
      // Before finalize: dracut runs against the tree as the packages left it, /var and all.
      await phase('initramfs', 'Generating the initramfs', () => regenerateInitramfs(work, {
        args: initramfs.args, etc: initramfs.etc, scratchDir: opts.workDir, signal, onLine: opts.onLine,
      }));
    }
    const finalized = await phase('finalize', 'Finishing the tree', () => finalizeTree(work, { optBefore, machineId }));
    warnings.push(...finalized.warnings);
    await phase('verify', 'Checking the repository objects', () => assertNoInPlaceWrites(shared, opts.repo, signal));
    const packages = layeredPackagesOf(opts.plan, opts.requested);
    const checksum = await phase('commit', 'Committing', () =>
      commitLayeredTree(opts.repo, work, {
        base: opts.baseCommit, metadata: packages, initramfs: initramfs ? { args: [...initramfs.args] } : undefined, signal,
      }));
    tree = undefined;
    // The commit is made: a tree that can not be removed is worth a warning, not a failed operation.
    await cleanup(work).catch((cleanupError: unknown) => {
      warnings.push(`could not remove the work tree ${work}: ${cleanupError instanceof Error ? cleanupError.message : String(cleanupError)}`);
    });
    return { checksum, packages, accounts, finalize: finalized, warnings, dpkgRuns: applied.runs, timings };
  } catch (err) {
    if (tree !== undefined) {
      // Do not hide the error that stopped the build behind one about its cleanup.
      await cleanup(tree).catch((cleanupError: unknown) => {
        progress.message(`could not remove the work tree ${tree ?? ''}: ${cleanupError instanceof Error ? cleanupError.message : String(cleanupError)}`);
      });
    }
    throw err;
  }
}
