import { readLayeredMetadata } from '../layering/commit.js';
import { readRequests } from '../layering-requests.js';
import { commitInfo } from '../ostree/repo.js';
import { originRefspec } from '../origin.js';
import { requestName } from './pkg/change-requests.js';
import { deploymentId, type Deployment } from '../sysroot/deployment.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import { pickOsname, type EngineOptions } from './context.js';
import { readCachedUpdate, type CachedUpdate } from '../cached-update.js';
import { readLiveState } from '../sysroot/live-state.js';
import { unlockedState, type UnlockedState } from './running-system.js';

/** One deployment in `status --json`, with rpm-ostree's field names where the concept exists. */
export interface DeploymentStatus {
  id: string;
  osname: string;
  serial: number;
  checksum: string;
  version: string | null;
  timestamp: number;
  booted: boolean;
  staged: boolean;
  pinned: boolean;
  rollback: boolean;
  origin: string | null;
  'base-checksum': string | null;
  'requested-packages': string[];
  packages: string[];
  /** Requests the base already satisfies (recorded, not installed). */
  'inactive-requests': string[];
  /** Every package the layering added, dependencies included, with versions. */
  'layered-packages': { name: string; version: string }[];
  'base-removals': string[];
  'base-replacements': string[];
  kargs: string[];
  index: number;
  /** The origin asks for the initramfs to be rebuilt on the client (`initramfs --enable`). */
  'regenerate-initramfs': boolean;
  'initramfs-args': string[];
  /** How `ostree admin unlock` left /usr: none, development, transient (usroverlay, apply-live) or hotfix. */
  unlocked: UnlockedState;
  /** Booted only: the commit an interrupted apply-live was bringing to the running system. */
  'live-inprogress': string | null;
  /** Booted only: the commit whose packages apply-live brought to the running system. */
  'live-replaced': string | null;
}

export interface StatusReport {
  deployments: DeploymentStatus[];
  transaction: null | { title: string; initiator: string };
  /** The update the last check found for the booted (offline: default) stateroot, when it is not deployed yet. */
  'cached-update': CachedUpdate | null;
}

export async function status(opts: Pick<EngineOptions, 'sysroot' | 'osname'>, onlyBooted = false): Promise<StatusReport> {
  const sysroot = await loadSysroot(opts.sysroot);
  let deployments = sysroot.deployments;
  if (opts.osname !== undefined) deployments = deployments.filter((d) => d.osname === opts.osname);
  if (onlyBooted) deployments = deployments.filter((d) => d.booted);
  const described = await Promise.all(deployments.map((d) => describe(sysroot.repoPath, d)));
  let osname: string | undefined;
  try {
    osname = pickOsname(sysroot, opts.osname);
  } catch {
    osname = undefined;
  }
  const cached = osname === undefined ? null : await currentCachedUpdate(sysroot.path, osname, described);
  return { deployments: described, transaction: null, 'cached-update': cached };
}

/** The recorded update, unless a deployment of the stateroot already has it (it was deployed or staged since). */
export async function currentCachedUpdate(sysrootPath: string, osname: string, deployments: readonly DeploymentStatus[]):
  Promise<CachedUpdate | null> {
  const cached = await readCachedUpdate(sysrootPath, osname);
  if (cached === null) return null;
  const deployed = deployments.some((d) => d.osname === osname && (d['base-checksum'] ?? d.checksum) === cached.checksum);
  return deployed ? null : cached;
}

export async function describe(repo: string, d: Deployment): Promise<DeploymentStatus> {
  const [info, layered, unlocked, live] = await Promise.all([commitInfo(repo, d.checksum), readLayeredMetadata(repo, d.checksum),
    unlockedState(d), readLiveState(d)]);
  const requests = readRequests(d.origin);
  const requested = [...requests.packages, ...requests.localPackages.map(requestName)];
  const active = new Set(layered?.layered.map((p) => p.name) ?? []);
  return {
    id: deploymentId(d),
    osname: d.osname,
    serial: d.serial,
    checksum: d.checksum,
    version: info.version ?? null,
    timestamp: info.timestamp,
    booted: d.booted,
    staged: d.staged,
    pinned: d.pinned,
    rollback: d.rollback,
    origin: originRefspec(d.origin) ?? null,
    'base-checksum': layered?.base ?? null,
    'requested-packages': requested,
    packages: requested.filter((r) => active.has(requestName(r))),
    'inactive-requests': requested.filter((r) => !active.has(requestName(r))),
    'layered-packages': layered?.layered ?? [],
    'base-removals': layered?.removed.map((p) => p.name) ?? requests.removals,
    'base-replacements': layered?.replaced.map((p) => `${p.name}=${p.version}`) ?? requests.replacements,
    kargs: d.kargs,
    index: d.index,
    'regenerate-initramfs': requests.regenerateInitramfs,
    'initramfs-args': requests.initramfsArgs,
    unlocked,
    'live-inprogress': live.inprogress ?? null,
    'live-replaced': live.commit ?? null,
  };
}
