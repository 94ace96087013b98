import { mergeUsersIntoDeployment } from '../../layering/users.js';
import { hasRequests, originWithRequests, type LayeringRequests } from '../../layering-requests.js';
import { adminUndeploy } from '../../ostree/admin.js';
import { task } from '../../progress.js';
import { loadSysroot } from '../../sysroot/sysroot.js';
import type { EngineOptions, OsView } from '../context.js';
import { deployCommit } from '../new-deployment.js';
import { layerOnto, type LayerOptions } from './layer.js';

export interface PkgChangeResult {
  changed: boolean;
  dryRun: boolean;
  /** The new deployment's commit (layered, or the plain base when nothing is layered any more). */
  checksum: string | null;
  base: string;
  install: { name: string; version: string; arch: string; requested: boolean }[];
  remove: { name: string; version: string }[];
  inactive: string[];
  downloadBytes: number;
  requests: LayeringRequests;
}

export interface DeployLayeredRequest extends LayerOptions {
  base: string;
  refspec: string;
  requests: LayeringRequests;
  overrideCommit?: string | undefined;
  /** Stage it (automatic updates): see deployCommit. */
  stage?: boolean | undefined;
}

/**
 * Deploys `base` with `requests` layered on it: the layered commit is built first, so any failure before the
 * `ostree admin deploy` leaves the system as it was; a failure after it (the account merge) removes the new
 * deployment again.
 */
export async function deployLayered(opts: EngineOptions, view: OsView, req: DeployLayeredRequest): Promise<PkgChangeResult> {
  const origin = originWithRequests(view.originBase.origin, req.refspec, req.requests, req.overrideCommit);
  const result: PkgChangeResult = {
    changed: true, dryRun: req.dryRun ?? false, checksum: req.base, base: req.base,
    install: [], remove: [], inactive: [], downloadBytes: 0, requests: req.requests,
  };
  if (!hasRequests(req.requests)) {
    if (!result.dryRun) await deployCommit(opts, view, req.base, origin, undefined, req.stage);
    return result;
  }
  const outcome = await layerOnto(opts, view, req.base, req.requests, req);
  result.install = outcome.plan.install.map((p) => ({ name: p.name, version: p.version, arch: p.arch, requested: p.requested }));
  result.remove = outcome.plan.remove.map((p) => ({ name: p.name, version: p.version }));
  result.inactive = outcome.inactive;
  result.downloadBytes = outcome.plan.downloadBytes;
  result.checksum = outcome.checksum;
  if (outcome.checksum === null) return result;

  await deployCommit(opts, view, outcome.checksum, origin, undefined, req.stage);
  // A staged deployment gets its /etc merged at shutdown, over anything written now: its layered accounts come from
  // the commit's sysusers.d fragment (same ids) when systemd-sysusers runs at its first boot.
  if (req.stage === true) return result;
  const after = await loadSysroot(view.sysroot.path);
  const deployed = after.deployments.find((d) => d.osname === view.osname && !d.staged);
  if (deployed?.checksum !== outcome.checksum) return result;
  try {
    await task(opts.progress, 'Merging users and groups', () => mergeUsersIntoDeployment(deployed.path));
  } catch (err) {
    await adminUndeploy(view.sysroot.path, deployed.index);
    throw err;
  }
  return result;
}
