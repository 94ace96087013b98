import { join } from 'node:path';
import { removeStaleWorkTrees } from '../core/layering/work-tree.js';
import { SysrootLock } from '../core/sysroot/lock.js';
import { AptOstreeError } from '../lib/errors.js';
import { log } from './log.js';

/**
 * At startup, what a killed predecessor may have left: the sysroot lock went with its holder (the kernel drops it),
 * layering work trees stay in each stateroot's /var/tmp. They are removed under the sysroot lock, so never while an
 * operation (the CLI's in-process fallback) runs; when the lock is taken the engine removes them before its next
 * layering build instead.
 */
export async function cleanStaleState(sysroot: string, osnames: readonly string[]): Promise<void> {
  let lock: SysrootLock;
  try {
    lock = await SysrootLock.acquire(sysroot, 'apt-ostreed: removing stale work trees');
  } catch (err) {
    if (err instanceof AptOstreeError && err.code === 'sysroot-locked') {
      log('startup', 'the sysroot is locked by another operation: stale work trees are left to the engine');
      return;
    }
    throw err;
  }
  try {
    for (const os of osnames) {
      const removed = await removeStaleWorkTrees(join(sysroot, 'ostree/deploy', os, 'var/tmp'));
      for (const tree of removed) log('startup', `removed stale work tree ${tree}`);
    }
  } finally {
    await lock.release();
  }
}
