/**
 * `apply-live` (rpm-ostree's): brings what the pending deployment adds to the running system, without a reboot.
 *
 *   1. the /usr difference between the running commit (the booted one, or the one an earlier apply-live brought)
 *      and the pending one, by `ostree diff`, and the package difference of their dpkg databases;
 *   2. only additions go live unless --allow-replacement: a package upgraded, downgraded or removed, or a file of
 *      the running system changed or removed, is refused (running programs would see files change under them);
 *      apt-ostree's own package state (the dpkg database, /usr/share/apt-ostree, the /usr/etc defaults, its
 *      sysusers.d and tmpfiles.d fragments) always follows, so dpkg -l on the live system tells the truth;
 *   3. /usr becomes a transient overlay (`ostree admin unlock --transient`: read-only for everybody else, gone at the
 *      next boot), and the files are copied from the pending deployment's checkout — new files on the overlay, so no
 *      repository object is ever written;
 *   4. /etc gains the new deployment's NEW default files only: a file the administrator has is never touched;
 *   5. systemd-sysusers (new system users), systemd-tmpfiles --create (/var and /run) and systemctl daemon-reload
 *      (new units are known; nothing is started or enabled beyond what the new /etc files say);
 *   6. /run/apt-ostree/live records it: status shows live-replaced / live-inprogress on the booted deployment.
 *
 * Never applied live: the kernel and the initramfs (a reboot boots them), anything outside /usr, and changed
 * metadata of directories. The pending deployment stays what the next boot uses.
 */
import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { run, type ExecOptions } from '../../lib/exec.js';
import { ostree } from '../ostree/ostree-cli.js';
import { diffPackages, readCommitPackages, type PackageDiff } from '../packages.js';
import { task } from '../progress.js';
import { readLiveState, writeLiveState } from '../sysroot/live-state.js';
import { openOs, withSysrootLock, type EngineOptions } from './context.js';
import { ostreeHasTransientUnlock, requireBooted, runOnHost, unlockedState, usrIsReadOnly,
  type UnlockedState } from './running-system.js';

export interface ApplyLiveRequest {
  /** Also apply package upgrades and removals, and files that replace or remove files of the running system. */
  allowReplacement?: boolean;
}

export interface ApplyLiveResult {
  changed: boolean;
  /** The commit the running /usr had, and the one it has now. */
  from: string;
  to: string;
  packages: PackageDiff;
  /** Entries of the /usr difference that were applied. */
  files: { added: number; replaced: number; removed: number };
  /** New files and directories copied into /etc. */
  etcAdded: string[];
  /** Paths of the difference that were not applied, with why. */
  notApplied: string[];
  unlocked: UnlockedState;
  warnings: string[];
}

export type TreeChangeKind = 'added' | 'modified' | 'removed';

export interface TreeChange {
  kind: TreeChangeKind;
  /** Absolute path in the tree, e.g. /usr/bin/htop. */
  path: string;
}

const KINDS: Readonly<Record<string, TreeChangeKind>> = { A: 'added', M: 'modified', D: 'removed' };

/** `ostree diff` output: one `A|M|D    /path` line per entry, directories and everything inside added ones included. */
export function parseOstreeDiff(text: string): TreeChange[] {
  const out: TreeChange[] = [];
  for (const line of text.split('\n')) {
    const m = /^([AMD])\s+(\/.*)$/.exec(line);
    const kind = KINDS[m?.[1] ?? ''];
    if (kind === undefined || m?.[2] === undefined) continue;
    // A path that could leave the tree is not one ostree prints; refuse to act on it rather than trust it.
    if (m[2].split('/').some((part) => part === '..' || part === '.')) continue;
    out.push({ kind, path: m[2] });
  }
  return out;
}

/** apt-ostree's package state: it describes the packages, so it goes live with them whatever it replaces. */
const PACKAGE_STATE = [
  '/usr/share/dpkg/database/', '/usr/share/apt-ostree/', '/usr/etc/', '/usr/share/factory/',
  '/usr/lib/sysusers.d/apt-ostree', '/usr/lib/tmpfiles.d/apt-ostree',
];
const KERNEL_FILE = /^\/usr\/lib\/modules\/[^/]+\/(vmlinuz|initramfs\.img|config|System\.map)$/;

export interface LivePlan {
  /** /usr-relative paths to copy from the pending deployment (an added directory carries what is inside). */
  copy: string[];
  /** /usr-relative paths to delete. */
  remove: string[];
  /** /usr/etc-relative paths that are new in the pending deployment: candidates for /etc. */
  etc: string[];
  /** Absolute paths that change or remove what the running system has (need --allow-replacement). */
  replacements: string[];
  notApplied: string[];
  counts: { added: number; replaced: number; removed: number };
}

/**
 * Decides what goes live. `isDirectory` answers for the modified entries (ostree diff marks a directory whose
 * metadata changed as modified, like a file).
 */
export function planLiveChanges(changes: readonly TreeChange[], isDirectory: (path: string) => boolean,
  allowReplacement: boolean): LivePlan {
  const plan: LivePlan = { copy: [], remove: [], etc: [], replacements: [], notApplied: [], counts: { added: 0, replaced: 0, removed: 0 } };
  const copied = new Set<string>();
  const removed = new Set<string>();
  const underOneOf = (path: string, set: Set<string>): boolean => {
    for (let p = path.slice(0, path.lastIndexOf('/')); p.length > 0; p = p.slice(0, p.lastIndexOf('/'))) {
      if (set.has(p)) return true;
    }
    return false;
  };
  const ordered = [...changes].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const c of ordered) {
    if (!c.path.startsWith('/usr/')) {
      plan.notApplied.push(`${c.path} (outside /usr)`);
      continue;
    }
    if (KERNEL_FILE.test(c.path)) {
      plan.notApplied.push(`${c.path} (the kernel and initramfs change at the next boot)`);
      continue;
    }
    if (c.kind === 'modified' && isDirectory(c.path)) {
      plan.notApplied.push(`${c.path} (directory metadata)`);
      continue;
    }
    const state = PACKAGE_STATE.some((prefix) => c.path.startsWith(prefix));
    if (c.kind === 'added' && c.path.startsWith('/usr/etc/')) plan.etc.push(c.path.slice('/usr/etc/'.length));
    if (!state && c.kind !== 'added') {
      plan.replacements.push(c.path);
      if (!allowReplacement) continue;
    }
    const rel = c.path.slice('/usr/'.length);
    if (c.kind === 'removed') {
      plan.counts.removed++;
      if (!underOneOf(c.path, removed)) plan.remove.push(rel);
      removed.add(c.path);
    } else {
      plan.counts[c.kind === 'added' ? 'added' : 'replaced']++;
      if (!underOneOf(c.path, copied)) plan.copy.push(rel);
      if (c.kind === 'added') copied.add(c.path);
    }
  }
  return plan;
}

/** Why a plan can not go live without --allow-replacement; undefined when it can. */
export function liveRefusal(packages: PackageDiff, replacements: readonly string[]): AptOstreeError | undefined {
  const reasons = [
    ...packages.upgraded.map((p) => `upgrades ${p.name}`),
    ...packages.downgraded.map((p) => `downgrades ${p.name}`),
    ...packages.removed.map((p) => `removes ${p.name}`),
  ];
  if (reasons.length === 0 && replacements.length > 0) {
    reasons.push(`replaces or removes ${replacements.length} file(s) of the running system (${replacements.slice(0, 3).join(', ')}${replacements.length > 3 ? ', …' : ''})`);
  }
  if (reasons.length === 0) return undefined;
  const shown = reasons.length > 4 ? [...reasons.slice(0, 4), `${reasons.length - 4} more`] : reasons;
  return new AptOstreeError('live-apply-refused', `the pending deployment ${shown.join(', ')}: only additions are applied live`,
    'reboot into it (systemctl reboot), or pass --allow-replacement to apply it anyway (running programs keep the old files)');
}

/** Writes a NUL-separated list for `xargs -0 -a` (no argument list limit, no shell). */
async function withList<T>(dir: string, name: string, paths: readonly string[], fn: (file: string) => Promise<T>): Promise<T> {
  const file = join(dir, name);
  await writeFile(file, paths.map((p) => `${p}\0`).join(''));
  return fn(file);
}

function xargs(list: string, argv: readonly string[], opts: ExecOptions): ReturnType<typeof run> {
  return run(['xargs', '-0', '-r', '-a', list, '--', ...argv], opts);
}

export async function applyLive(opts: EngineOptions, req: ApplyLiveRequest): Promise<ApplyLiveResult> {
  const allowReplacement = req.allowReplacement ?? false;
  const what = 'apply-live';
  requireBooted(await openOs(opts), what);
  return withSysrootLock(opts, what, async () => {
    const view = await openOs(opts);
    const booted = requireBooted(view, what);
    const target = view.pending[0];
    if (target === undefined) {
      throw new AptOstreeError('nothing-to-do', 'there is no pending deployment to apply',
        'make one first (e.g. `apt-ostree install htop`), then apply it with `apt-ostree apply-live`');
    }
    const live = await readLiveState(booted);
    if (live.inprogress !== undefined && live.inprogress !== target.checksum) {
      throw new AptOstreeError('live-apply-refused',
        `an earlier apply-live of ${live.inprogress.slice(0, 12)} was interrupted, and the pending deployment is now ${target.checksum.slice(0, 12)}`,
        'reboot to get a consistent system (the live changes go away), then apply again');
    }
    const from = live.commit ?? booted.checksum;
    const repo = view.sysroot.repoPath;
    const packages = diffPackages(await readCommitPackages(repo, from), await readCommitPackages(repo, target.checksum));
    const state = await unlockedState(booted);
    const result: ApplyLiveResult = {
      changed: false, from, to: target.checksum, packages, files: { added: 0, replaced: 0, removed: 0 }, etcAdded: [],
      notApplied: [], unlocked: state, warnings: [],
    };
    if (from === target.checksum) return result;
    if (state === 'hotfix') {
      throw new AptOstreeError('live-apply-refused', 'the booted deployment has a hotfix overlay on /usr',
        'live changes on a hotfix would outlive the reboot that should drop them: reboot into the pending deployment instead');
    }

    const targetUsr = join(target.path, 'usr');
    const changes = parseOstreeDiff((await task(opts.progress, 'Comparing the running and the pending commit', () =>
      ostree(['diff', `--repo=${repo}`, from, target.checksum], { signal: opts.signal }))).stdout);
    const dirs = new Set<string>();
    for (const c of changes.filter((x) => x.kind === 'modified')) {
      if ((await lstat(join(target.path, c.path)).catch(() => undefined))?.isDirectory()) dirs.add(c.path);
    }
    const plan = planLiveChanges(changes, (p) => dirs.has(p), allowReplacement);
    const refused = allowReplacement ? undefined : liveRefusal(packages, plan.replacements);
    if (refused) throw refused;
    result.notApplied = plan.notApplied;
    result.files = plan.counts;

    if (state === 'none') {
      const transient = await ostreeHasTransientUnlock();
      await task(opts.progress, 'Unlocking /usr (until the next boot)', () =>
        runOnHost(['ostree', 'admin', 'unlock', ...(transient ? ['--transient'] : [])], { signal: opts.signal }));
      result.unlocked = transient ? 'transient' : 'development';
    }
    await writeLiveState(booted, { commit: live.commit, inprogress: target.checksum });
    const runDir = process.env.APT_OSTREE_RUNDIR ?? '/run/apt-ostree';
    await mkdir(runDir, { recursive: true, mode: 0o755 });
    // A transient overlay is read-only; it is made writable here only (in apt-ostreed's own mount namespace).
    const remount = await usrIsReadOnly();
    if (remount) await remountUsr('rw');
    try {
      result.etcAdded = await task(opts.progress, 'Copying the new files into /usr and /etc', () =>
        copyLiveChanges(plan, { source: targetUsr, usr: '/usr', etc: '/etc', scratchParent: runDir, signal: opts.signal }));
    } finally {
      if (remount) await remountUsr('ro');
    }
    await writeLiveState(booted, { commit: target.checksum });
    result.changed = true;

    await task(opts.progress, 'Updating users, /var and systemd', async () => {
      for (const argv of [['systemd-sysusers'], ['systemd-tmpfiles', '--create', '--prefix=/var', '--prefix=/run'],
        ['systemctl', 'daemon-reload']]) {
        await runOnHost(argv, { signal: opts.signal }).catch((err: unknown) => {
          result.warnings.push(`${argv.join(' ')}: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
    });
    return result;
  });
}

/**
 * Flips the transient overlay on /usr between read-only and writable. util-linux 2.39+ remounts through the new mount
 * API, which hands the options to overlayfs as a reconfiguration it refuses ("No changes allowed in reconfigure");
 * the classic mount(2) (what rpm-ostree calls) only changes the read-only flag.
 */
async function remountUsr(mode: 'ro' | 'rw'): Promise<void> {
  await run(['mount', '-o', `remount,${mode}`, '/usr'], { env: { ...process.env, LIBMOUNT_FORCE_MOUNT2: 'always' } });
}

export interface LiveCopyTarget {
  /** The pending deployment's /usr: where the files come from. */
  source: string;
  /** The running system's /usr and /etc (elsewhere in tests). */
  usr: string;
  etc: string;
  /** Where the file lists are written (a private directory is made in it and removed). */
  scratchParent: string;
  signal?: AbortSignal | undefined;
}

/**
 * Carries out a plan: copies and removals in `usr`, then the new default files the running `etc` lacks (an added
 * directory comes with its content; nothing there is overwritten). Returns the paths added to `etc`.
 */
export async function copyLiveChanges(plan: LivePlan, t: LiveCopyTarget): Promise<string[]> {
  const scratch = await mkdtemp(join(t.scratchParent, 'live-'));
  try {
    // --remove-destination: a replaced file is a new file, never a write through the one a program has open.
    await withList(scratch, 'copy', plan.copy, (list) => xargs(list, ['cp', '-a', '--no-preserve=links', '--parents',
      '--remove-destination', '-t', t.usr, '--'], { cwd: t.source, signal: t.signal }));
    await withList(scratch, 'remove', plan.remove, (list) => xargs(list, ['rm', '-rf', '--one-file-system', '--'],
      { cwd: t.usr, signal: t.signal }));
    const wanted: string[] = [];
    for (const rel of plan.etc) {
      if (wanted.some((w) => rel.startsWith(`${w}/`))) continue;
      if ((await lstat(join(t.etc, rel)).catch(() => undefined)) !== undefined) continue;
      wanted.push(rel);
    }
    await withList(scratch, 'etc', wanted, (list) => xargs(list, ['cp', '-a', '--no-preserve=links', '--parents',
      '--no-clobber', '-t', t.etc, '--'], { cwd: join(t.source, 'etc'), signal: t.signal }));
    return wanted.map((rel) => join(t.etc, rel));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
