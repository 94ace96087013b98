import { AptOstreeError } from '../../lib/errors.js';
import { adminPin } from '../ostree/admin.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import { withSysrootLock, type EngineOptions } from './context.js';

/** Pinned deployments survive upgrades and cleanup until unpinned. */
export async function pin(opts: EngineOptions, index: number, unpin: boolean): Promise<void> {
  await withSysrootLock(opts, unpin ? 'unpin' : 'pin', async () => {
    const sysroot = await loadSysroot(opts.sysroot);
    const d = sysroot.deployments[index];
    if (d === undefined || d.staged) {
      throw new AptOstreeError('invalid-index', `no deployment with index ${index}`,
        `indexes go from 0 to ${sysroot.deployments.length - 1}; see \`apt-ostree status\``);
    }
    await adminPin(sysroot.path, index, unpin);
  });
}
