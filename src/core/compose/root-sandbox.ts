/**
 * Runs a program inside a plain image root (before the base image contract: /etc is still /etc) with bubblewrap:
 * the root at `/`, private /proc, /dev, /tmp and /run, no network, a clean environment. Used for postprocess
 * scripts, `systemctl enable` and dracut at compose time. Services stay stopped: policy-rc.d answers 101 for the
 * duration of the run.
 */
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runUnchecked } from '../../lib/exec.js';
import { POLICY_RC_D, SANDBOX_ENV, type TreeBind, type TreeRunResult } from '../layering/sandbox.js';
import { lstatOrNull, writeFileByRename } from './tree-fs.js';

export interface RootRunOptions {
  binds?: readonly TreeBind[];
  signal?: AbortSignal | undefined;
  onLine?: ((line: string) => void) | undefined;
  /** Mount the root read-only (a listing, a check). */
  readOnly?: boolean;
  env?: Readonly<Record<string, string>>;
}

const OUTPUT_TAIL_LINES = 200;
const POLICY_SAVED = 'usr/sbin/.policy-rc.d.apt-ostree-compose';

export function rootBwrapArguments(root: string, argv: readonly string[], opts: RootRunOptions = {}): string[] {
  const args = [
    opts.readOnly === true ? '--ro-bind' : '--bind', root, '/',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/run',
  ];
  for (const b of opts.binds ?? []) args.push(b.ro === true ? '--ro-bind' : '--bind', b.src, b.dest);
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup', '--die-with-parent',
    '--chdir', '/', '--', ...argv);
  return args;
}

/** Resolves with the exit status and the output's last lines; throws only when bwrap can not start or on abort. */
export async function runInRoot(root: string, argv: readonly string[], opts: RootRunOptions = {}): Promise<TreeRunResult> {
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    opts.onLine?.(line);
  };
  const restore = opts.readOnly === true ? () => Promise.resolve() : await forbidServices(root);
  try {
    const result = await runUnchecked(['bwrap', ...rootBwrapArguments(root, argv, opts)], {
      env: { ...SANDBOX_ENV, ...opts.env }, signal: opts.signal, onStdoutLine: onLine, onStderrLine: onLine,
    });
    return { ...result, tail };
  } finally {
    await restore();
  }
}

async function forbidServices(root: string): Promise<() => Promise<void>> {
  const policy = join(root, POLICY_RC_D);
  const had = (await lstatOrNull(policy)) !== null;
  if (had) await rename(policy, join(root, POLICY_SAVED));
  await writeFileByRename(policy, '#!/bin/sh\n# apt-ostree compose: no service starts while the image is built\nexit 101\n', 0o755);
  return async () => {
    await unlink(policy).catch(() => undefined);
    if (had) await rename(join(root, POLICY_SAVED), policy);
  };
}
