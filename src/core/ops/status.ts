import { readLayeredMetadata } from '../layering/commit.js';
import { readRequests } from '../layering-requests.js';
import { commitInfo } from '../ostree/repo.js';
import { originRefspec } from '../origin.js';
import { requestName } from './pkg/change-requests.js';
import { deploymentId, type Deployment } from '../sysroot/deployment.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import type { EngineOptions } from './context.js';

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
}

export interface StatusReport {
  deployments: DeploymentStatus[];
  transaction: null | { title: string; initiator: string };
}

export async function status(opts: Pick<EngineOptions, 'sysroot' | 'osname'>, onlyBooted = false): Promise<StatusReport> {
  const sysroot = await loadSysroot(opts.sysroot);
  let deployments = sysroot.deployments;
  if (opts.osname !== undefined) deployments = deployments.filter((d) => d.osname === opts.osname);
  if (onlyBooted) deployments = deployments.filter((d) => d.booted);
  return { deployments: await Promise.all(deployments.map((d) => describe(sysroot.repoPath, d))), transaction: null };
}

export async function describe(repo: string, d: Deployment): Promise<DeploymentStatus> {
  const [info, layered] = await Promise.all([commitInfo(repo, d.checksum), readLayeredMetadata(repo, d.checksum)]);
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
  };
}
