import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { adminCleanup, adminUndeploy } from '../ostree/admin.js';
import { ostree } from '../ostree/ostree-cli.js';
import { task } from '../progress.js';
import { protectBaseCommits } from '../sysroot/base-refs.js';
import type { Deployment } from '../sysroot/deployment.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import { openOs, withSysrootLock, type EngineOptions } from './context.js';

export interface CleanupRequest {
  pending?: boolean;
  rollback?: boolean;
  base?: boolean;
  repomd?: boolean;
  /** `prune`: also drop the history behind every ref (commits that neither a ref tip nor a deployment needs). */
  prune?: boolean;
}

export interface CleanupResult {
  removedDeployments: string[];
  keptPinned: string[];
  prunedObjects: boolean;
}

/** The stateroot's /var/cache/apt-ostree: downloaded packages and apt metadata (later issues fill it). */
export function cacheDir(sysrootPath: string, osname: string): string {
  return join(sysrootPath, 'ostree/deploy', osname, 'var/cache/apt-ostree');
}

export async function cleanup(opts: EngineOptions, req: CleanupRequest): Promise<CleanupResult> {
  return withSysrootLock(opts, req.prune ? 'prune' : 'cleanup', async () => {
    const view = await openOs(opts);
    // Before any undeploy or prune: refs for the bases of layered deployments made before apt-ostree kept them.
    await protectBaseCommits(view.sysroot);
    const doomed: Deployment[] = [];
    // Both relative to the booted deployment (offline the default one), as rpm-ostree's cleanup -p / -r.
    if (req.pending) doomed.push(...view.pending);
    if (req.rollback) doomed.push(...view.deployments.slice(view.deployments.indexOf(view.mergeDeployment) + 1));
    const keptPinned = doomed.filter((d) => d.pinned).map((d) => d.checksum);
    const removed = doomed.filter((d) => !d.pinned);
    // Highest index first: undeploying shifts the indexes after it.
    for (const d of [...removed].sort((a, b) => b.index - a.index)) {
      await task(opts.progress, `Removing deployment ${d.checksum.slice(0, 12)}.${d.serial}`, () =>
        adminUndeploy(view.sysroot.path, d.index));
    }
    // Bases only the removed deployments used are left to the prunes below.
    if (removed.length > 0) await protectBaseCommits(await loadSysroot(view.sysroot.path));
    if (req.repomd) await rm(join(cacheDir(view.sysroot.path, view.osname), 'metadata'), { recursive: true, force: true });
    const base = (req.base ?? false) || (req.prune ?? false);
    if (base) {
      await task(opts.progress, 'Removing temporary files', () => removeTemporaryFiles(view.sysroot.path, view.osname));
      if (req.prune) {
        // The deployments are protected by OSTree's own ostree/B/S/N refs, so only history no one needs goes.
        await task(opts.progress, 'Pruning history', () =>
          ostree(['prune', `--repo=${view.sysroot.repoPath}`, '--refs-only', '--depth=0']));
      }
      await task(opts.progress, 'Pruning the repository', () => adminCleanup(view.sysroot.path));
    }
    return { removedDeployments: removed.map((d) => `${d.checksum}.${d.serial}`), keptPinned, prunedObjects: base };
  });
}

async function removeTemporaryFiles(sysrootPath: string, osname: string): Promise<void> {
  const dir = join(cacheDir(sysrootPath, osname), 'tmp');
  await rm(dir, { recursive: true, force: true });
  const repoTmp = join(sysrootPath, 'ostree/repo/tmp');
  for (const name of await readdir(repoTmp).catch(() => [])) {
    if (name.startsWith('apt-ostree-')) await rm(join(repoTmp, name), { recursive: true, force: true });
  }
}
