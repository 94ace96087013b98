import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../lib/errors.js';
import { ExecError } from '../../lib/exec.js';
import type { KeyFile } from '../../lib/keyfile.js';
import { ostree } from './ostree-cli.js';

export interface DeployOptions {
  sysroot: string;
  osname: string;
  origin: KeyFile;
  /** Exact kernel arguments of the new deployment; undefined inherits those of the merge deployment. */
  kargs?: string[] | undefined;
  /** `--stage`: written now, made the default by ostree-finalize-staged.service at shutdown (booted systems only). */
  stage?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * `ostree admin deploy`: checks out the commit, merges /etc from the current deployment, writes the boot entries
 * with an atomic swap, and keeps the current and pinned deployments (libostree's retention, the same as
 * rpm-ostree's): everything before the swap is undone by ostree itself on failure.
 */
export async function adminDeploy(checksum: string, opts: DeployOptions): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-origin-'));
  try {
    const originFile = join(dir, 'origin');
    await writeFile(originFile, opts.origin.toString());
    const args = ['admin', 'deploy', `--sysroot=${opts.sysroot}`, `--os=${opts.osname}`, `--origin-file=${originFile}`];
    if (opts.kargs !== undefined) args.push('--karg-none', ...opts.kargs.map((k) => `--karg-append=${k}`));
    if (opts.stage === true) args.push('--stage');
    args.push(checksum);
    await ostree(args, { signal: opts.signal });
  } catch (err) {
    if (err instanceof ExecError) {
      throw new AptOstreeError('deploy-failed', `deploying ${checksum.slice(0, 12)} failed: ${oneLine(err.result.stderr.trim())}`,
        'nothing was changed; see the message above');
    }
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function adminUndeploy(sysroot: string, index: number): Promise<void> {
  await ostree(['admin', 'undeploy', `--sysroot=${sysroot}`, String(index)]);
}

export async function adminPin(sysroot: string, index: number, unpin: boolean): Promise<void> {
  await ostree(['admin', 'pin', `--sysroot=${sysroot}`, ...(unpin ? ['--unpin'] : []), String(index)]);
}

/** Deletes undeployed deployment directories and old boot versions, and prunes objects no ref or deployment needs. */
export async function adminCleanup(sysroot: string): Promise<void> {
  await ostree(['admin', 'cleanup', `--sysroot=${sysroot}`]);
}
