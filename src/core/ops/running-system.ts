/**
 * What the booted-only commands (usroverlay, apply-live, staging) need to know about the running system: whether the
 * sysroot is the booted one, how ostree left /usr (unlocked or not), and how to run a tool whose mounts the whole
 * system must see.
 *
 * apt-ostreed runs with MountFlags=slave: a mount made inside it (the overlay of `ostree admin unlock`) would stay in
 * its own namespace, invisible to everybody else. Such tools therefore go through `systemd-run --wait`, which starts
 * them as a transient unit in PID 1's namespace (rpm-ostreed does the same); the in-process client, already there,
 * runs them directly.
 */
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { run, type ExecOptions, type ExecResult } from '../../lib/exec.js';
import { pathExists } from '../../lib/fs.js';
import type { Deployment } from '../sysroot/deployment.js';
import type { OsView } from './context.js';

/** libostree's unlock states (`ostree admin unlock`), as rpm-ostree's status shows them. */
export type UnlockedState = 'none' | 'development' | 'transient' | 'hotfix';

/** libostree keeps the development and transient flags per boot, beside the deployment's other runtime state. */
const DEPLOYMENT_RUNSTATE = '/run/ostree/deployment-state';

/** The booted deployment of the view's stateroot, or `not-booted` naming what needed it and why. */
export function requireBooted(view: OsView, what: string, does = 'changes the running system'): Deployment {
  if (view.booted) return view.booted;
  const offline = view.sysroot.path !== '/';
  throw new AptOstreeError('not-booted',
    offline ? `${what} ${does}, and ${view.sysroot.path} is an offline sysroot`
      : `${what} ${does}, and no deployment of stateroot ${view.osname} is booted`,
    offline ? 'run it on the booted machine, without --sysroot'
      : 'boot into the apt-ostree system first (ostree-prepare-root writes /run/ostree-booted)');
}

export async function unlockedState(d: Deployment): Promise<UnlockedState> {
  const recorded = d.origin?.get('origin', 'unlocked');
  if (recorded === 'hotfix' || recorded === 'development' || recorded === 'transient') return recorded;
  if (!d.booted) return 'none';
  const dir = join(DEPLOYMENT_RUNSTATE, `${d.checksum}.${d.serial}`);
  if (await pathExists(join(dir, 'unlocked-development'))) return 'development';
  if (await pathExists(join(dir, 'unlocked-transient'))) return 'transient';
  return 'none';
}

/** Whether this process sees PID 1's mounts (false inside apt-ostreed's private mount namespace). */
export async function inInitMountNamespace(): Promise<boolean> {
  try {
    return (await readlink('/proc/self/ns/mnt')) === (await readlink('/proc/1/ns/mnt'));
  } catch {
    // Without access to PID 1's namespace there is no other to escape to.
    return true;
  }
}

/** Runs argv so that the mounts it makes (and the files it writes under ProtectHome) are the whole system's. */
export async function runOnHost(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (await inInitMountNamespace()) return run(argv, opts);
  return run(['systemd-run', '--quiet', '--wait', '--pipe', '--collect', '--service-type=exec', '--', ...argv], opts);
}

/** Whether /usr is mounted read-only here (the last mount on /usr in mountinfo is the one in effect; else /'s). */
export async function usrIsReadOnly(): Promise<boolean> {
  const flags: Record<string, boolean> = {};
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const fields = line.split(' ');
    const point = fields[4];
    if (point === '/usr' || point === '/') flags[point] = (fields[5] ?? '').split(',').includes('ro');
  }
  return flags['/usr'] ?? flags['/'] ?? false;
}

let transientSupport: Promise<boolean> | undefined;

/** `ostree admin unlock --transient` (ostree 2021.3): a read-only overlay that only we make writable. */
export function ostreeHasTransientUnlock(): Promise<boolean> {
  transientSupport ??= run(['ostree', 'admin', 'unlock', '--help']).then((r) => r.stdout.includes('--transient'), () => false);
  return transientSupport;
}
