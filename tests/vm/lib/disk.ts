/**
 * The test machine's disks, made without loop mounts or root-only mounts of any kind:
 * - the system disk: an OSTree sysroot directory (init-fs, os-init, the v1 commit pulled from the image repository,
 *   `ostree admin deploy`) poured into a sparse raw ext4 image with `mkfs.ext4 -d`. /boot is a directory of that one
 *   file system, as on a machine installed without a boot partition; the host reads its boot entries (bootloader.ts).
 * - the test disk (label APTTEST): the guest script and its inputs; the guest keeps its state there between boots.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runUnchecked } from '../../../src/lib/exec.js';
import type { VmImage } from './image.js';

export const OSNAME = 'debian';
/** The remote the deployments follow: the host's HTTP server (`vm:<ref>`). */
export const REMOTE = 'vm';
export const ROOT_LABEL = 'aptroot';
export const TEST_LABEL = 'APTTEST';

export interface SystemDiskOptions {
  /** The URL the guest pulls updates from (the image repository, served by the host). */
  remoteUrl: string;
  /** Sparse size of the image; layering, the v2 pull and package downloads happen on it. */
  size?: string;
  log?: (line: string) => void;
}

/** Makes `<work>/system.raw`, deploying the image's v1 commit, and returns its path. */
export async function makeSystemDisk(image: VmImage, work: string, opts: SystemDiskOptions): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const sysroot = join(work, 'sysroot');
  const repo = join(sysroot, 'ostree/repo');
  const disk = join(work, 'system.raw');
  await mkdir(sysroot, { recursive: true });
  try {
    await run(['ostree', 'admin', 'init-fs', sysroot]);
    await run(['ostree', 'admin', 'os-init', `--sysroot=${sysroot}`, OSNAME]);
    await run(['ostree', 'remote', 'add', `--repo=${repo}`, '--no-gpg-verify', REMOTE, opts.remoteUrl, image.ref]);
    // v1 only, by checksum: with v2's commit already local, the upgrade would have nothing to fetch from the host.
    log(`pulling v1 ${image.v1.commit.slice(0, 12)} into the sysroot`);
    await run(['ostree', 'pull-local', `--repo=${repo}`, image.repo, image.v1.commit]);
    await run(['ostree', 'refs', `--repo=${repo}`, `--create=${REMOTE}:${image.ref}`, image.v1.commit]);
    await run(['ostree', 'admin', 'deploy', `--sysroot=${sysroot}`, `--os=${OSNAME}`,
      `--karg=root=LABEL=${ROOT_LABEL}`, '--karg=rw', '--karg=console=ttyS0,115200', `${REMOTE}:${image.ref}`]);
    log(`mkfs.ext4 -d ${sysroot} → ${disk}`);
    await rm(disk, { force: true });
    await run(['truncate', '-s', opts.size ?? '16G', disk]);
    await run(['mkfs.ext4', '-q', '-F', '-L', ROOT_LABEL, '-E', 'root_owner=0:0', '-d', sysroot, disk]);
  } finally {
    await removeSysroot(sysroot);
  }
  return disk;
}

/** Makes `<work>/test.raw` from a directory (the guest script and its inputs). */
export async function makeTestDisk(dir: string, work: string): Promise<string> {
  const disk = join(work, 'test.raw');
  await rm(disk, { force: true });
  await run(['truncate', '-s', '256M', disk]);
  await run(['mkfs.ext4', '-q', '-F', '-L', TEST_LABEL, '-E', 'root_owner=0:0', '-d', dir, disk]);
  return disk;
}

/** Copies a directory out of an ext4 image (what the guest left on the test disk), for the artifacts. */
export async function copyOutOfImage(disk: string, path: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  await runUnchecked(['debugfs', '-R', `rdump ${path} ${dest}`, disk]);
}

/** ostree marks deployment roots immutable: clear that before deleting. */
async function removeSysroot(sysroot: string): Promise<void> {
  const deployRoot = join(sysroot, 'ostree/deploy', OSNAME, 'deploy');
  const roots = (await readdir(deployRoot).catch(() => [] as string[]))
    .filter((n) => !n.endsWith('.origin')).map((n) => join(deployRoot, n));
  if (roots.length > 0) await runUnchecked(['chattr', '-i', ...roots]);
  await rm(sysroot, { recursive: true, force: true });
}
