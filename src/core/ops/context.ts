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
  /** Deployments of this stateroot, in boot order. */
  deployments: Deployment[];
  /** The booted deployment, or offline the default one: the base of every change (libostree's merge deployment). */
  current: Deployment;
  rollback: Deployment | undefined;
  /** Deployments ahead of the current one (staged or not yet booted). */
  pending: Deployment[];
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
  const current = deployments.find((d) => d.booted) ?? deployments.find((d) => !d.staged);
  if (current === undefined) {
    throw new AptOstreeError('no-deployment', `stateroot '${osname}' has no deployment`,
      'deploy a base first, e.g. `ostree admin deploy --os=' + osname + ' REMOTE:REF`');
  }
  const at = deployments.indexOf(current);
  return {
    sysroot, osname, deployments, current,
    rollback: deployments[at + 1],
    pending: deployments.slice(0, at),
  };
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
