import type { KeyFile } from '../../lib/keyfile.js';
import { adminDeploy } from '../ostree/admin.js';
import { task } from '../progress.js';
import type { EngineOptions, OsView } from './context.js';
import { checkCancelled } from './context.js';

/**
 * Deploys a commit as the new default of the stateroot; the current deployment stays as the rollback. Staged, it
 * becomes the default only at shutdown (ostree-finalize-staged.service), which also merges /etc then.
 */
export async function deployCommit(
  opts: EngineOptions,
  view: OsView,
  checksum: string,
  origin: KeyFile,
  kargs?: string[],
  stage = false,
): Promise<void> {
  checkCancelled(opts.signal);
  await task(opts.progress, stage ? 'Staging the deployment' : 'Deploying', () =>
    adminDeploy(checksum, { sysroot: view.sysroot.path, osname: view.osname, origin, kargs, stage, signal: opts.signal }));
}
