/**
 * The kit's OSTree repositories: commits go to a bare repository (root-owned objects, like a sysroot's), which is
 * then mirrored with all history into an archive repository, the form a server publishes over HTTP.
 */
import { run } from '../../src/lib/exec.js';

export async function initRepo(path: string, mode: 'bare' | 'archive'): Promise<void> {
  await run(['ostree', 'init', `--repo=${path}`, `--mode=${mode}`]);
}

export interface CommitOptions {
  repo: string;
  tree: string;
  ref: string;
  version: string;
  subject: string;
}

/** Commits a tree that follows the base image contract; the branch's previous commit becomes the parent. */
export async function commitTree(opts: CommitOptions): Promise<string> {
  const { stdout } = await run([
    'ostree', 'commit', `--repo=${opts.repo}`, `--branch=${opts.ref}`, `--tree=dir=${opts.tree}`,
    // --bootable adds ostree.bootable and ostree.linux (the kernel version) to the commit metadata
    '--bootable',
    `--subject=${opts.subject}`,
    `--add-metadata-string=version=${opts.version}`,
  ]);
  return stdout.trim();
}

/**
 * Mirrors `refs` with their whole history (pull-local defaults to depth 0, which would leave older commits such as
 * v1 out of the archive) and writes the summary file that remote clients read.
 */
export async function mirrorToArchive(bareRepo: string, archiveRepo: string, refs: readonly string[]): Promise<void> {
  await run(['ostree', 'pull-local', `--repo=${archiveRepo}`, '--depth=-1', bareRepo, ...refs]);
  await run(['ostree', 'summary', '-u', `--repo=${archiveRepo}`]);
}
