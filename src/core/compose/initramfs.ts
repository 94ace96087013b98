/**
 * The image's initramfs, built once at compose time with the image's own dracut (bubblewrap, image as `/`) and the
 * treefile's initramfs-args. An ostree deployment only boots with ostree-prepare-root in the initramfs (ostree-boot's
 * dracut module): an initramfs without it is refused here rather than at the first boot.
 */
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { requireSingleKernel } from './kernel.js';
import { runInRoot } from './root-sandbox.js';
import { lstatOrNull } from './tree-fs.js';

export interface InitramfsOptions {
  args: readonly string[];
  signal?: AbortSignal | undefined;
}

export interface InitramfsReport {
  kernelVersion: string;
  seconds: number;
}

export async function buildInitramfs(root: string, opts: InitramfsOptions): Promise<InitramfsReport> {
  const started = Date.now();
  const kver = await requireSingleKernel(root);
  if (!(await lstatOrNull(join(root, 'usr/bin/dracut')))) {
    throw new AptOstreeError('compose-failed', 'initramfs: dracut is not in the image',
      'add dracut and ostree-boot to the packages, or set `initramfs: packaged` to keep the kernel package\'s own');
  }
  const image = `/boot/initrd.img-${kver}`;
  // dracut's output is only shown when it fails (the tail goes into the error).
  const built = await runInRoot(root, ['dracut', '--quiet', '--force', '--no-hostonly', ...opts.args, '--kver', kver, image], {
    signal: opts.signal,
  });
  if (built.code !== 0) {
    throw new AptOstreeError('compose-failed', `initramfs: dracut exited with status ${built.code}: ${built.tail.slice(-3).join('; ')}`,
      'check initramfs-args against dracut(8)');
  }
  const listing = await runInRoot(root, ['lsinitrd', image], { readOnly: true, signal: opts.signal });
  if (listing.code !== 0 || !listing.stdout.includes('usr/lib/ostree/ostree-prepare-root')) {
    throw new AptOstreeError('compose-failed', `initramfs: ${image} has no ostree-prepare-root, so it can not boot an ostree deployment`,
      'add ostree-boot to the packages (it brings the dracut module)');
  }
  return { kernelVersion: kver, seconds: (Date.now() - started) / 1000 };
}
