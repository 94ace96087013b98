import { AptOstreeError } from '../../lib/errors.js';
import type { ProgressSink } from '../progress.js';
import type { Deployment } from '../sysroot/deployment.js';
import { SysrootLock } from '../sysroot/lock.js';
import { loadSysroot, type Sysroot } from '../sysroot/sysroot.js';

/** Where an operation runs: which sysroot and stateroot, how it reports, and how it is cancelled. */
export interface EngineOptions {
  sysroot: string;
  osname?: string | undefined;
  progress: ProgressSink;
  signal?: AbortSignal | undefined;
}

export interface OsView {
  sysroot: Sysroot;
  osname: string;
  /** Deployments of this stateroot, in boot order (a staged one first). */
  deployments: Deployment[];
  /** The booted deployment, when it belongs to this stateroot. */
  booted: Deployment | undefined;
  /**
   * What every change starts from (rpm-ostree's "origin merge deployment"): the stateroot's default deployment, that is
   * the pending one (staged or not) when there is one, else the booted one. Its origin (refspec, layered packages,
   * overrides, initramfs) and kernel arguments are what install, kargs, upgrade… build on, so that changes made in
   * the same boot stack instead of each starting again from the booted deployment.
   */
  originBase: Deployment;
  /**
   * libostree's merge deployment: the booted one, or offline the default one. `ostree admin deploy` merges its /etc
   * into the new deployment, layering resolves with its apt configuration, and pending and rollback are relative to it.
   */
  mergeDeployment: Deployment;
  /** The deployment after the merge deployment: what `rollback` returns to. */
  rollback: Deployment | undefined;
  /** Deployments ahead of the merge deployment (staged or not yet booted). */
  pending: Deployment[];
}

export type DeploymentRoles = Pick<OsView, 'originBase' | 'mergeDeployment' | 'rollback' | 'pending'>;

/**
 * Which deployment of a stateroot (in boot order, `booted` and `staged` set) plays which part; undefined when there is
 * none to start from. Offline nothing is booted and the default deployment is both the origin base and the merge
 * deployment.
 */
export function deploymentRoles(deployments: readonly Deployment[]): DeploymentRoles | undefined {
  const mergeDeployment = deployments.find((d) => d.booted) ?? deployments.find((d) => !d.staged);
  const originBase = deployments[0];
  if (mergeDeployment === undefined || originBase === undefined) return undefined;
  const at = deployments.indexOf(mergeDeployment);
  return { originBase, mergeDeployment, rollback: deployments[at + 1], pending: deployments.slice(0, at) };
}

export function pickOsname(sysroot: Sysroot, wanted: string | undefined): string {
  if (wanted !== undefined) {
    if (!sysroot.osnames.includes(wanted)) {
      throw new AptOstreeError('unknown-os', `no stateroot named '${wanted}' in ${sysroot.path}`,
        `stateroots here: ${sysroot.osnames.join(', ') || 'none'}`);
    }
    return wanted;
  }
  if (sysroot.booted) return sysroot.booted.osname;
  const withDeployments = [...new Set(sysroot.deployments.map((d) => d.osname))];
  const candidates = withDeployments.length > 0 ? withDeployments : sysroot.osnames;
  if (candidates.length === 1 && candidates[0] !== undefined) return candidates[0];
  if (withDeployments.length > 1 && sysroot.deployments[0]) return sysroot.deployments[0].osname;
  throw new AptOstreeError('unknown-os', candidates.length === 0 ? `no stateroot in ${sysroot.path}` : `several stateroots: ${candidates.join(', ')}`,
    candidates.length === 0 ? 'create one with `ostree admin os-init NAME`' : 'pick one with --os NAME');
}

export async function openOs(opts: Pick<EngineOptions, 'sysroot' | 'osname'>): Promise<OsView> {
  const sysroot = await loadSysroot(opts.sysroot);
  const osname = pickOsname(sysroot, opts.osname);
  const deployments = sysroot.deployments.filter((d) => d.osname === osname);
  const roles = deploymentRoles(deployments);
  if (roles === undefined) {
    throw new AptOstreeError('no-deployment', `stateroot '${osname}' has no deployment`,
      'deploy a base first, e.g. `ostree admin deploy --os=' + osname + ' REMOTE:REF`');
  }
  return { sysroot, osname, deployments, booted: deployments.find((d) => d.booted), ...roles };
}

/** Runs a mutating operation under the sysroot lock. */
export async function withSysrootLock<T>(opts: EngineOptions, title: string, fn: () => Promise<T>): Promise<T> {
  const sysroot = (await loadSysroot(opts.sysroot)).path;
  const lock = await SysrootLock.acquire(sysroot, title);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

export function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AptOstreeError('cancelled', 'the operation was cancelled', 'nothing was changed');
  }
}
