import type { KeyFile } from '../../lib/keyfile.js';
import { adminDeploy } from '../ostree/admin.js';
import { task } from '../progress.js';
import type { EngineOptions, OsView } from './context.js';
import { checkCancelled } from './context.js';

/** Deploys a commit as the new default of the stateroot; the current deployment stays as the rollback. */
export async function deployCommit(
  opts: EngineOptions,
  view: OsView,
  checksum: string,
  origin: KeyFile,
  kargs?: string[],
): Promise<void> {
  checkCancelled(opts.signal);
  await task(opts.progress, 'Deploying', () =>
    adminDeploy(checksum, { sysroot: view.sysroot.path, osname: view.osname, origin, kargs, signal: opts.signal }));
}
