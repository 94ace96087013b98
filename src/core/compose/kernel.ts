/**
 * Kernel and initramfs into /usr/lib/modules/<kver>/{vmlinuz,initramfs.img}: ostree finds them there, copies them
 * to the sysroot's /boot at deploy time and versions them with the rest of /usr. The image's own /boot must be
 * empty, since ostree owns the real /boot.
 */
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { emptyDirectory, lstatOrNull, moveMerging, readdirOrEmpty, unlinkIfPresent } from './tree-fs.js';

export const MODULES_DIR = 'usr/lib/modules';

export interface KernelReport {
  version: string;
  /** False when neither /boot nor the modules directory had an initramfs; ostree then deploys without one. */
  initramfs: boolean;
  /** What was left in /boot after the move and removed (bootloader files, System.map of other kernels, ...). */
  removedFromBoot: string[];
}

/** Debian's /boot names, as installed by linux-image-* and initramfs-tools/dracut, and where ostree wants them. */
const BOOT_FILES: readonly { prefix: string; target: string }[] = [
  { prefix: 'vmlinuz-', target: 'vmlinuz' },
  { prefix: 'initrd.img-', target: 'initramfs.img' },
  { prefix: 'config-', target: 'config' },
  { prefix: 'System.map-', target: 'System.map' },
];

/** The kernel versions an image root carries, from /boot/vmlinuz-* and /usr/lib/modules/∗/vmlinuz. */
export async function findKernelVersions(root: string): Promise<string[]> {
  const versions = new Set<string>();
  for (const name of await readdirOrEmpty(join(root, 'boot'))) {
    if (name.startsWith('vmlinuz-')) versions.add(name.slice('vmlinuz-'.length));
  }
  for (const name of await readdirOrEmpty(join(root, MODULES_DIR))) {
    if (await lstatOrNull(join(root, MODULES_DIR, name, 'vmlinuz'))) versions.add(name);
  }
  return [...versions].sort();
}

/** Checks that there is exactly one kernel, before anything is changed. */
export async function requireSingleKernel(root: string): Promise<string> {
  const versions = await findKernelVersions(root);
  const [version] = versions;
  if (version === undefined) {
    throw new AptOstreeError('no-kernel', `no kernel found in ${root} (neither /boot/vmlinuz-* nor /usr/lib/modules/*/vmlinuz)`,
      'install a linux-image package into the image before applying the base image contract');
  }
  if (versions.length > 1) {
    throw new AptOstreeError('invalid-rootfs', `${root} has ${versions.length} kernels (${versions.join(', ')})`,
      'an ostree deployment boots exactly one kernel: keep one linux-image package in the image');
  }
  return version;
}

export async function moveKernelIntoModules(root: string): Promise<KernelReport> {
  const version = await requireSingleKernel(root);
  const modulesDir = join(root, MODULES_DIR, version);
  for (const { prefix, target } of BOOT_FILES) {
    const source = join(root, 'boot', `${prefix}${version}`);
    if (await lstatOrNull(source)) await moveMerging(source, join(modulesDir, target));
  }
  // The /vmlinuz and /initrd.img convenience links of Debian's kernel hooks point into the emptied /boot.
  for (const link of ['vmlinuz', 'vmlinuz.old', 'initrd.img', 'initrd.img.old']) {
    await unlinkIfPresent(join(root, link));
  }
  const removedFromBoot = await emptyDirectory(join(root, 'boot'));
  const initramfs = (await lstatOrNull(join(modulesDir, 'initramfs.img'))) !== null;
  return { version, initramfs, removedFromBoot };
}
