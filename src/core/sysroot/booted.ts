import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';

/**
 * The booted deployment exists only on a running OSTree system looking at its own sysroot: `/run/ostree-booted`
 * is there, and `/` is the deployment directory (same device and inode), as libostree decides it.
 */
export async function bootedDeploymentPath(sysrootPath: string, deploymentPaths: readonly string[]): Promise<string | undefined> {
  if (resolve(sysrootPath) !== '/' && resolve(sysrootPath) !== '/sysroot') return undefined;
  try {
    await stat('/run/ostree-booted');
  } catch {
    return undefined;
  }
  const root = await stat('/');
  for (const path of deploymentPaths) {
    try {
      const s = await stat(path);
      if (s.dev === root.dev && s.ino === root.ino) return path;
    } catch { /* a deployment being removed */ }
  }
  return undefined;
}

export async function kernelCommandLine(): Promise<string> {
  try {
    return (await readFile('/proc/cmdline', 'utf8')).trim();
  } catch {
    return '';
  }
}
