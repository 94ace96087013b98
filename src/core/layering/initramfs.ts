/**
 * Client-side initramfs (`apt-ostree initramfs --enable`, rpm-ostree's regenerate-initramfs): the work tree's own
 * dracut rebuilds the initramfs in bubblewrap with the tree as `/` and the merge deployment's /etc (that is the point
 * of regenerating on the client: crypttab, dracut.conf.d, multipath settings of this machine), and the result takes
 * the place of usr/lib/modules/<kver>/initramfs.img, where ostree finds it at deploy time.
 *
 * The old initramfs.img of a hardlinked checkout IS a repository object: the new image is written elsewhere and
 * renamed over it, which only replaces the directory entry. An image without ostree-prepare-root could not mount
 * the deployment at boot, so it is refused before anything is committed.
 */
import { chmod, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../lib/errors.js';
import { requireSingleKernel, MODULES_DIR } from '../compose/kernel.js';
import { lstatOrNull } from '../compose/tree-fs.js';
import { runInTree, type TreeBind } from './sandbox.js';
import { WORK_TREE_PREFIX } from './work-tree.js';

/** Where the output directory appears inside the sandbox (the private /run). */
const OUT_IN_SANDBOX = '/run/apt-ostree/initramfs';
const IMAGE = 'initramfs.img';
/** What ostree-boot's dracut module installs; without it the initramfs can not boot an ostree deployment. */
const PREPARE_ROOT = 'usr/lib/ostree/ostree-prepare-root';

/** Where the image's dracut is (usr-merged Debian). */
export const DRACUT = 'usr/bin/dracut';

export function dracutMissing(): AptOstreeError {
  return new AptOstreeError('tool-missing', 'initramfs regeneration needs dracut, and the image has none',
    'use a base image with dracut and ostree-boot, or layer them (`apt-ostree install dracut ostree-boot`); nothing was changed');
}

export interface RegenerateInitramfsOptions {
  /** Extra dracut arguments, after apt-ostree's own (so that they win, e.g. --hostonly). */
  args: readonly string[];
  /** The /etc dracut reads: the merge deployment's; default the tree's usr/etc. */
  etc?: string | undefined;
  /** A directory on the tree's filesystem for the new image (it is renamed into the tree). */
  scratchDir: string;
  signal?: AbortSignal | undefined;
  onLine?: ((line: string) => void) | undefined;
}

export interface InitramfsResult {
  kernelVersion: string;
  bytes: number;
}

export async function regenerateInitramfs(tree: string, opts: RegenerateInitramfsOptions): Promise<InitramfsResult> {
  const kver = await requireSingleKernel(tree);
  if (!(await lstatOrNull(join(tree, DRACUT)))) throw dracutMissing();
  // Named like a work tree, so that a run killed here leaves nothing the next build does not remove.
  const out = await mkdtemp(join(opts.scratchDir, `${WORK_TREE_PREFIX}initramfs-`));
  try {
    const binds: TreeBind[] = [{ src: out, dest: OUT_IN_SANDBOX }];
    if (opts.etc !== undefined) binds.push({ src: opts.etc, dest: '/etc', ro: true });
    const image = `${OUT_IN_SANDBOX}/${IMAGE}`;
    // dracut's default tmpdir is /var/tmp, which would leave its scratch in the tree's /var.
    const built = await runInTree(tree, ['dracut', '--no-hostonly', '--force', '--tmpdir', '/tmp', '--kver', kver,
      ...opts.args, image], { binds, signal: opts.signal, onLine: opts.onLine });
    const made = await lstatOrNull(join(out, IMAGE));
    if (built.code !== 0 || !made?.isFile()) {
      const why = built.code !== 0 ? `dracut exited with status ${built.code}` : 'dracut wrote no image';
      throw new AptOstreeError('command-failed', `${why}: ${oneLine(built.tail.slice(-3).join('\n'))}`,
        'check the --arg values against dracut(8); nothing was changed');
    }
    const listing = await runInTree(tree, ['lsinitrd', image], { binds, signal: opts.signal });
    if (listing.code !== 0 || !listing.stdout.includes(PREPARE_ROOT)) {
      throw new AptOstreeError('invalid-rootfs', 'the regenerated initramfs has no ostree-prepare-root, so it could not boot this deployment',
        'install ostree-boot in the image (it brings the dracut module), or layer it; nothing was changed');
    }
    const target = join(tree, MODULES_DIR, kver, IMAGE);
    await chmod(join(out, IMAGE), ((await lstatOrNull(target))?.mode ?? 0o644) & 0o7777);
    await rename(join(out, IMAGE), target);
    return { kernelVersion: kver, bytes: made.size };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
