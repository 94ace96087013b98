/**
 * Runs programs (dpkg and the maintainer scripts it starts) with a work tree as their root filesystem, in
 * bubblewrap: the tree at `/`, its `/usr/etc` at `/etc` (ostree trees keep the configuration there), private
 * /proc, /dev, /tmp and /run, no network, and the tree's own /var recreated from its tmpfiles.d lines the way a
 * booted system would have it (so /var/lib/dpkg, debconf's database and the other package state links resolve
 * into the tree's /usr).
 *
 * Namespaces: pid, ipc, uts, net and cgroup, but NOT the user namespace. As root, a new user namespace maps only
 * uid 0, and a postinst's `chown newuser:newgroup` then fails with EINVAL; so `--unshare-all` is not used either.
 *
 * Services: /usr/sbin/policy-rc.d answers 101 ("action forbidden") while the tree is in use, so invoke-rc.d and
 * deb-systemd-invoke start nothing. `systemctl daemon-reload` in debhelper snippets is guarded by
 * `[ -d /run/systemd/system ]`, which the private /run does not have.
 *
 * Commands are argv arrays handed to bwrap; nothing here builds a shell command line.
 */
import { mkdir, readFile, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { runUnchecked, type ExecResult } from '../../lib/exec.js';
import { lstatOrNull, readdirOrEmpty, writeFileByRename } from '../compose/tree-fs.js';

export interface TreeBind {
  /** Host path. */
  src: string;
  /** Path inside the sandbox; binds below /run or /tmp land in the private tmpfs. */
  dest: string;
  ro?: boolean;
}

export interface RunInTreeOptions {
  binds?: readonly TreeBind[];
  signal?: AbortSignal;
  /** Every output line as it comes, stdout and stderr alike. */
  onLine?: (line: string) => void;
  /** Extra environment variables (the environment is otherwise exactly SANDBOX_ENV). */
  env?: Readonly<Record<string, string>>;
}

export interface TreeRunResult extends ExecResult {
  /** The last output lines of both streams in the order they arrived (at most OUTPUT_TAIL_LINES). */
  tail: string[];
}

/** The whole environment inside the sandbox: nothing of the caller's leaks into maintainer scripts. */
export const SANDBOX_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  LC_ALL: 'C.UTF-8',
  HOME: '/root',
};

const OUTPUT_TAIL_LINES = 200;

export const POLICY_RC_D = 'usr/sbin/policy-rc.d';
const POLICY_RC_D_SAVED = 'usr/sbin/.policy-rc.d.apt-ostree-saved';
const POLICY_RC_D_SCRIPT = '#!/bin/sh\n# apt-ostree: no service is started while a new tree is being built\nexit 101\n';

/** bwrap's argument list (without the program name): exported for tests and for reading. */
export function bwrapArguments(tree: string, argv: readonly string[], binds: readonly TreeBind[] = []): string[] {
  const args = [
    '--bind', tree, '/',
    '--bind', join(tree, 'usr/etc'), '/etc',
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--tmpfs', '/run',
  ];
  // After the tmpfs mounts, so that binds below /run and /tmp are not hidden by them.
  for (const b of binds) args.push(b.ro === true ? '--ro-bind' : '--bind', b.src, b.dest);
  args.push(
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup',
    '--die-with-parent',
    '--chdir', '/',
    '--',
    ...argv,
  );
  return args;
}

/**
 * Runs argv with `tree` as the root filesystem and resolves with its exit status and output; it does not throw on
 * a non-zero status (callers interpret dpkg's failures), only when bwrap can not start or the signal aborts.
 */
export async function runInTree(tree: string, argv: readonly string[], opts: RunInTreeOptions = {}): Promise<TreeRunResult> {
  if (argv.length === 0) throw new AptOstreeError('internal', 'runInTree: empty command line');
  if ((await readdirOrEmpty(join(tree, 'var'))).length === 0) await populateVar(tree, opts.signal);
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    opts.onLine?.(line);
  };
  const undo = await prepareTree(tree);
  try {
    const result = await runUnchecked(['bwrap', ...bwrapArguments(tree, argv, opts.binds)], {
      env: { ...SANDBOX_ENV, ...opts.env },
      signal: opts.signal,
      onStdoutLine: onLine,
      onStderrLine: onLine,
    });
    return { ...result, tail };
  } finally {
    await undo();
  }
}

/**
 * The mount point for /etc and the policy-rc.d script, both only for the duration of one run: a commit must have
 * neither (ostree refuses /etc next to /usr/etc; a policy-rc.d would stop services on the booted system). A
 * policy-rc.d the base ships is moved aside and put back.
 */
async function prepareTree(tree: string): Promise<() => Promise<void>> {
  const etc = join(tree, 'etc');
  const etcStat = await lstatOrNull(etc);
  if (etcStat && !(etcStat.isDirectory() && (await readdirOrEmpty(etc)).length === 0)) {
    throw new AptOstreeError('invalid-rootfs', `${tree} has a /etc besides /usr/etc`,
      'the base commit does not follow the base image contract: /etc must be absent');
  }
  if (!etcStat) await mkdir(etc);
  const policy = join(tree, POLICY_RC_D);
  const hadPolicy = (await lstatOrNull(policy)) !== null;
  if (hadPolicy) await rename(policy, join(tree, POLICY_RC_D_SAVED));
  await writeFileByRename(policy, POLICY_RC_D_SCRIPT, 0o755);
  return async () => {
    await unlink(policy).catch(() => undefined);
    if (hadPolicy) await rename(join(tree, POLICY_RC_D_SAVED), policy);
    if (!etcStat) await rmdir(etc).catch(() => undefined);
  };
}

/**
 * Recreates the tree's /var from its tmpfiles.d lines with the host's systemd-tmpfiles, as the first boot of a
 * deployment would. During the run `/etc` is a relative symlink to usr/etc, so that user and group names in the
 * lines resolve against the tree's passwd and group rather than the host's. Returns tmpfiles' complaints (lines it
 * could not apply are reported, not fatal: the same happens at boot).
 */
export async function populateVar(tree: string, signal?: AbortSignal): Promise<string[]> {
  await mkdir(join(tree, 'var'), { recursive: true });
  const etc = join(tree, 'etc');
  const etcStat = await lstatOrNull(etc);
  const emptyMountPoint = etcStat?.isDirectory() === true && (await readdirOrEmpty(etc)).length === 0;
  if (emptyMountPoint) await rmdir(etc);
  if (!etcStat || emptyMountPoint) await symlink('usr/etc', etc);
  try {
    const r = await runUnchecked(['systemd-tmpfiles', '--create', `--root=${tree}`, '--prefix=/var'], { signal });
    return r.code === 0 ? [] : r.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  } finally {
    if (!etcStat || emptyMountPoint) await unlink(etc);
    if (emptyMountPoint) await mkdir(etc);
  }
}

/**
 * What runInTree leaves behind only when the process was killed in the middle of a run: the /etc mount point and
 * its policy-rc.d (with the base's own one, if any, still moved aside).
 */
export async function removeSandboxLeftovers(tree: string): Promise<void> {
  const etc = join(tree, 'etc');
  if ((await lstatOrNull(etc))?.isDirectory() && (await readdirOrEmpty(etc)).length === 0) await rmdir(etc);
  const saved = join(tree, POLICY_RC_D_SAVED);
  if (await lstatOrNull(saved)) await rename(saved, join(tree, POLICY_RC_D));
  else if ((await readFileOrNull(join(tree, POLICY_RC_D))) === POLICY_RC_D_SCRIPT) await unlink(join(tree, POLICY_RC_D));
}

async function readFileOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}
