/** Checkouts of kit commits for tests to look at or modify. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/lib/exec.js';

/**
 * Checks `commit` out of `repo` into a new temp directory and returns its path. A copy by default: a hardlinked
 * checkout (`hardlink: true`, bare repos only) shares inodes with the repository, and any write into it corrupts
 * the repository, here the kit's cached one.
 */
export async function checkoutCommit(repo: string, commit: string, opts: { hardlink?: boolean } = {}): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'apt-ostree-checkout-'));
  const dest = join(parent, 'tree');
  await run(['ostree', 'checkout', `--repo=${repo}`, opts.hardlink ? '--require-hardlinks' : '--force-copy', commit, dest]);
  return dest;
}

/** Removes a checkout made by checkoutCommit (the temp directory around it too). */
export async function removeCheckout(tree: string): Promise<void> {
  await rm(join(tree, '..'), { recursive: true, force: true });
}
