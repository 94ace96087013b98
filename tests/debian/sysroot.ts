/**
 * OSTree sysroots that deploy the real-Debian base (tests/debian/base.ts), for the slow suite: a work directory
 * with `sysroot/` in it, the base pulled from its cached archive repository and deployed the way `ostree admin`
 * does on an installed system. Optionally, the deployment's apt sources point at the Debian archive the host uses
 * (read at run time from the host's apt configuration: no host name is written in the repository).
 */
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { OSNAME, SUITE, type DebianBase } from './base.js';
import { DEBIAN_ARCHIVE_KEYRING, type DebianArchive } from '../../src/core/compose/archive-sources.js';

/** The remote the base is pulled from (the origin is then `debian:<ref>`). */
export const REMOTE = 'debian';

export interface DebianSysroot {
  /** The work directory (`mkdtemp` below /var/tmp): the sysroot and anything else the test puts there. */
  work: string;
  /** `<work>/sysroot`. */
  path: string;
  /** The sysroot's bare repository. */
  repo: string;
  /** The first deployment of the base commit (`…/deploy/<base.commit>.0`). */
  deployment: string;
}

export interface DebianSysrootOptions {
  /** Prefix of the work directory's name; default `apt-ostree-debian-test-`. */
  prefix?: string;
  /** Kernel arguments of the deployment; default `root=/dev/vda`. */
  kargs?: readonly string[];
}

/** A fresh sysroot with the base deployed. /var/tmp: on a real disk (the stateroot's caches and work trees go there). */
export async function newDebianSysroot(base: DebianBase, opts: DebianSysrootOptions = {}): Promise<DebianSysroot> {
  const work = await mkdtemp(join('/var/tmp', opts.prefix ?? 'apt-ostree-debian-test-'));
  const path = join(work, 'sysroot');
  const repo = join(path, 'ostree/repo');
  try {
    await mkdir(path);
    await run(['ostree', 'admin', 'init-fs', path]);
    await run(['ostree', 'admin', 'os-init', `--sysroot=${path}`, OSNAME]);
    await run(['ostree', 'remote', 'add', `--repo=${repo}`, '--no-gpg-verify', REMOTE, `file://${base.archiveRepo}`, base.ref]);
    await run(['ostree', 'pull', `--repo=${repo}`, REMOTE, base.ref]);
    await run(['ostree', 'admin', 'deploy', `--sysroot=${path}`, `--os=${OSNAME}`,
      ...(opts.kargs ?? ['root=/dev/vda']).map((k) => `--karg=${k}`), `${REMOTE}:${base.ref}`]);
  } catch (err) {
    await removeDebianSysroot(work);
    throw err;
  }
  return { work, path, repo, deployment: join(path, 'ostree/deploy', OSNAME, 'deploy', `${base.commit}.0`) };
}

/** Deletes a work directory made by newDebianSysroot, first clearing the immutable bit ostree puts on deployments. */
export async function removeDebianSysroot(work: string): Promise<void> {
  if (work === '') return;
  const deployRoot = join(work, 'sysroot/ostree/deploy', OSNAME, 'deploy');
  const roots = (await readdir(deployRoot).catch(() => [] as string[]))
    .filter((n) => !n.endsWith('.origin')).map((n) => join(deployRoot, n));
  if (roots.length > 0) await runUnchecked(['chattr', '-i', ...roots]);
  await rm(work, { recursive: true, force: true });
}

/**
 * The deb822 sources of the base's own build (trixie, trixie-updates, and trixie-security when the host has a
 * security archive), from the host's archive addresses, verified by the host's debian-archive-keyring: apt-ostree
 * runs apt on the host with the deployment's /etc/apt, so Signed-By resolves on the host.
 */
export function debianSources(archive: DebianArchive): string {
  const stanza = (uri: string, suites: string): string => [
    'Types: deb', `URIs: ${uri}`, `Suites: ${suites}`, 'Components: main', `Signed-By: ${DEBIAN_ARCHIVE_KEYRING}`, '',
  ].join('\n');
  return [
    '# Written by the apt-ostree test suite: the archive the host uses (read from its apt sources at run time).',
    stanza(archive.mirror, `${SUITE} ${SUITE}-updates`),
    ...(archive.securityMirror !== undefined ? [stanza(archive.securityMirror, `${SUITE}-security`)] : []),
  ].join('\n');
}

/**
 * Points the deployment's apt at the host's archive: etc/apt/sources.list.d/debian.sources, and the one-line
 * sources.list that mmdebstrap left (the archive address at build time, with no Signed-By) emptied, so that every
 * source is listed once. Written by rename: files in a deployment's /etc may share inodes with the repository.
 */
export async function useHostArchive(deployment: string, archive: DebianArchive): Promise<void> {
  const etcApt = join(deployment, 'etc/apt');
  await mkdir(join(etcApt, 'sources.list.d'), { recursive: true });
  await writeByRename(join(etcApt, 'sources.list.d/debian.sources'), debianSources(archive));
  await writeByRename(join(etcApt, 'sources.list'), '# See sources.list.d/debian.sources.\n');
}

async function writeByRename(file: string, content: string): Promise<void> {
  await writeFile(`${file}.new`, content);
  await rename(`${file}.new`, file);
}
