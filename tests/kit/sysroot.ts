/**
 * Fresh OSTree sysroots for tests: a directory laid out like the root of an installed apt-ostree system, with
 * the kit remote configured and base v1 deployed, as `ostree admin` leaves it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runUnchecked } from '../../src/lib/exec.js';
import type { Kit } from './index.js';

export interface SysrootOptions {
  /** URL of the archive repository (e.g. `${server.url}/ostree-archive`); default file:// of the kit's one. */
  remoteUrl?: string;
  /** Stateroot name; default `debian`. */
  osname?: string;
  /** Kernel arguments of the deployment; default root=/dev/vda console=ttyS0. */
  kargs?: readonly string[];
  /** Directory to create the sysroot in; default the system temp dir. */
  parentDir?: string;
  /** The kit's apt repository (e.g. `${server.url}/apt`) as the deployment's apt source, for layering. */
  aptUrl?: string;
}

export interface TestSysroot {
  path: string;
  /** The sysroot's repository (bare). */
  repo: string;
  osname: string;
  remoteName: string;
  /** `kit:debian/13/x86_64/kit`. */
  refspec: string;
  /** The deployed commit (kit.commits.v1). */
  commit: string;
}

export const DEFAULT_KARGS: readonly string[] = ['root=/dev/vda', 'console=ttyS0'];

export async function newSysroot(kit: Kit, opts: SysrootOptions = {}): Promise<TestSysroot> {
  const osname = opts.osname ?? kit.osname;
  const path = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'apt-ostree-sysroot-'));
  const repo = join(path, 'ostree/repo');
  const ref = kit.refs.main;
  try {
    await run(['ostree', 'admin', 'init-fs', path]);
    await run(['ostree', 'admin', 'os-init', `--sysroot=${path}`, osname]);
    await run(['ostree', 'remote', 'add', `--repo=${repo}`, '--no-gpg-verify', kit.remoteName,
      opts.remoteUrl ?? `file://${kit.archiveRepo}`, ref]);
    // REF@COMMIT pulls v1 although the remote's ref is at v2, and points the local kit:REF at it.
    await run(['ostree', 'pull', `--repo=${repo}`, kit.remoteName, `${ref}@${kit.commits.v1}`]);
    await run(['ostree', 'admin', 'deploy', `--sysroot=${path}`, `--os=${osname}`,
      ...(opts.kargs ?? DEFAULT_KARGS).map((k) => `--karg-append=${k}`), `${kit.remoteName}:${ref}`]);
    if (opts.aptUrl !== undefined) {
      const deployDir = join(path, 'ostree/deploy', osname, 'deploy');
      const [name] = (await readdir(deployDir)).filter((n) => !n.endsWith('.origin'));
      const sources = join(deployDir, name ?? '', 'etc/apt/sources.list.d');
      await mkdir(sources, { recursive: true });
      await writeFile(join(sources, 'kit.list'), `${kit.aptSourcesLine(opts.aptUrl)}\n`);
    }
  } catch (err) {
    await removeSysroot(path);
    throw err;
  }
  return { path, repo, osname, remoteName: kit.remoteName, refspec: `${kit.remoteName}:${ref}`, commit: kit.commits.v1 };
}

/** Deletes a sysroot, first clearing the immutable bit ostree puts on deployment roots. */
export async function removeSysroot(path: string): Promise<void> {
  const deployRoot = join(path, 'ostree/deploy');
  const deployments: string[] = [];
  for (const os of await readdir(deployRoot).catch(() => [])) {
    for (const name of await readdir(join(deployRoot, os, 'deploy')).catch(() => [])) {
      if (!name.endsWith('.origin')) deployments.push(join(deployRoot, os, 'deploy', name));
    }
  }
  if (deployments.length > 0) await runUnchecked(['chattr', '-i', ...deployments]);
  await rm(path, { recursive: true, force: true });
}
