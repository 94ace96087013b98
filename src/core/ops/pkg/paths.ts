import { join } from 'node:path';
import type { OsView } from '../context.js';

/**
 * Where layering keeps its state, all inside the stateroot's /var (the same filesystem as the repository, so work
 * trees can be hardlinked checkouts): apt lists and .debs in /var/cache/apt-ostree, local .debs the origin refers
 * to in /var/lib/apt-ostree/local, work trees in /var/tmp.
 */
export interface LayeringPaths {
  cacheDir: string;
  localDebsDir: string;
  workDir: string;
  /** The merge deployment's apt configuration: the live /etc/apt when booted, the deployment's etc/ offline. */
  etcAptDir: string;
}

export function layeringPaths(view: OsView): LayeringPaths {
  const stateroot = join(view.sysroot.path, 'ostree/deploy', view.osname);
  return {
    cacheDir: join(stateroot, 'var/cache/apt-ostree'),
    localDebsDir: join(stateroot, 'var/lib/apt-ostree/local'),
    workDir: join(stateroot, 'var/tmp'),
    etcAptDir: view.mergeDeployment.booted ? '/etc/apt' : join(view.mergeDeployment.path, 'etc/apt'),
  };
}
