/**
 * The raw-tools way of layering (shared/reference/lab/05-layer.sh), by hand and in TypeScript with argv arrays: the
 * yardstick apt-ostree is measured against. It does the same job in the fewest process starts an expert would
 * use, and none of apt-ostree's checks:
 *
 *   ostree checkout -H → private copies (cp -a) of usr/etc, the dpkg database, usr/share/apt-ostree, the factory
 *   → [apt-get update] → apt-get -s install (plan) → apt-get --download-only → systemd-tmpfiles for /var
 *   → dpkg --unpack / --configure in bwrap with the tree as / (batched in apt's order) → dpkg --configure -a
 *   → cleanup (policy-rc.d, /etc mount point, /var, /run, /tmp, dpkg *-old) → ostree commit
 *   --link-checkout-speedup → ostree admin deploy with an origin → passwd/group merge → rm -rf of the tree.
 *
 * Left out on purpose (apt-ostree does them): holds on the base packages, checksums of cached .debs, local-account
 * reservation, /var content turned into tmpfiles.d lines (the raw side drops /var), /opt handling, the extended_states
 * marks, dpkg --audit, the in-place-write check, the sysusers fragment.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readFile, readdir, rename, rm, rmdir, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runUnchecked } from '../../src/lib/exec.js';
import type { BenchSysroot } from './targets.js';

export interface RawLayerOptions {
  sysroot: BenchSysroot;
  packages: readonly string[];
  /** Private apt directory: lists/, archives/ (seeded for a warm run), log/, apt.conf. */
  aptDir: string;
  /** Run `apt-get update` first (a cold run); otherwise the lists in aptDir are used as they are. */
  update: boolean;
}

export interface RawLayerResult {
  checksum: string;
  /** The new deployment's directory. */
  deployment: string;
  /** Packages dpkg unpacked. */
  unpacked: string[];
  /** Milliseconds per step, in order. */
  phases: [string, number][];
}

/** Private copies: written in place by dpkg and the maintainer scripts (05-layer.sh's unshare_dirs). */
const PRIVATE = ['usr/etc', 'usr/share/dpkg/database', 'usr/share/apt-ostree', 'usr/share/factory'];
const ADMINDIR = '/usr/share/dpkg/database';
const DEBS = '/run/raw-debs';
const SANDBOX_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C.UTF-8', HOME: '/root' };

interface Step {
  kind: 'unpack' | 'configure';
  /** For unpack: .deb file names; for configure: package names. */
  items: string[];
}

export async function rawLayer(o: RawLayerOptions): Promise<RawLayerResult> {
  const phases: [string, number][] = [];
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      phases.push([name, performance.now() - started]);
    }
  };
  const s = o.sysroot;
  const tree = join(s.stateroot, 'var/tmp', `raw-layer-${randomBytes(4).toString('hex')}`);
  const archives = join(o.aptDir, 'archives');

  const base = await phase('rev-parse base', async () =>
    (await run(['ostree', 'rev-parse', `--repo=${s.repo}`, s.refspec])).stdout.trim());
  await phase('checkout -H', () => run(['ostree', 'checkout', `--repo=${s.repo}`, '-H', base, tree]));
  await phase('private copies (cp -a)', async () => {
    for (const rel of PRIVATE) {
      const st = await lstat(join(tree, rel)).catch(() => null);
      if (!st || st.isSymbolicLink()) continue;
      await run(['cp', '-a', join(tree, rel), join(tree, `${rel}.raw-copy`)]);
      await run(['rm', '-rf', join(tree, rel)]);
      await rename(join(tree, `${rel}.raw-copy`), join(tree, rel));
    }
  });

  // apt with a private configuration against the tree's dpkg status; the deployment's /etc/apt gives the sources.
  const etcApt = join(s.deployment, 'etc/apt');
  for (const d of ['lists/partial', 'archives/partial', 'log']) await mkdir(join(o.aptDir, d), { recursive: true });
  const config = join(o.aptDir, 'apt.conf');
  const status = join(tree, ADMINDIR, 'status');
  const extended = join(tree, 'usr/share/apt-ostree/extended_states');
  await writeFile(config, [
    `Dir::Etc "${etcApt}/";`,
    `Dir::Etc::parts "${etcApt}/apt.conf.d/";`,
    `Dir::State "${o.aptDir}/";`,
    `Dir::State::lists "${o.aptDir}/lists/";`,
    `Dir::State::status "${status}";`,
    `Dir::State::extended_states "${extended}";`,
    `Dir::Cache "${o.aptDir}/";`,
    `Dir::Cache::archives "${archives}/";`,
    `Dir::Log "${o.aptDir}/log/";`,
    'Debug::NoLocking "true";',
    'APT::Sandbox::User "root";',
    'APT::Install-Recommends "false";',
    'Acquire::Languages "none";',
    '',
  ].join('\n'));
  // The image's apt.conf.d sets the status path to the in-image one: the command line has the last word.
  const aptGet = (args: readonly string[]): Promise<{ stdout: string; stderr: string }> => run(
    ['apt-get', '-o', `Dir::State::status=${status}`, '-o', `Dir::State::extended_states=${extended}`, ...args],
    { env: { ...process.env, APT_CONFIG: config, LC_ALL: 'C.UTF-8' } });

  if (o.update) {
    await phase('apt-get update', async () => {
      const r = await aptGet(['-q', 'update']);
      if (/^(W|E): (Failed to fetch|Some index files failed)/m.test(r.stderr)) throw new Error(`apt-get update: ${r.stderr}`);
    });
  }
  const steps = await phase('apt-get -s install', async () => parsePlan((await aptGet(['-s', 'install', ...o.packages])).stdout));
  await phase('apt-get --download-only', () => aptGet(['-q', '-y', '--download-only', 'install', ...o.packages]));
  const unpacked = steps.filter((st) => st.kind === 'unpack').flatMap((st) => st.items);
  for (const deb of unpacked) {
    if (!(await stat(join(archives, deb)).catch(() => null))?.isFile()) throw new Error(`raw: ${deb} was not downloaded`);
  }

  await phase('tmpfiles /var + policy-rc.d', async () => {
    await writeFile(join(tree, 'usr/sbin/policy-rc.d.raw-new'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    await rename(join(tree, 'usr/sbin/policy-rc.d.raw-new'), join(tree, 'usr/sbin/policy-rc.d'));
    // /etc → usr/etc while tmpfiles runs, so that its user and group names resolve against the tree's accounts.
    await symlink('usr/etc', join(tree, 'etc'));
    await runUnchecked(['systemd-tmpfiles', '--create', `--root=${tree}`, '--prefix=/var']);
    await unlink(join(tree, 'etc'));
    await mkdir(join(tree, 'etc'));
  });
  const bwrap = (argv: readonly string[]): Promise<unknown> => run([
    'bwrap', '--bind', tree, '/', '--bind', join(tree, 'usr/etc'), '/etc', '--proc', '/proc', '--dev', '/dev',
    '--tmpfs', '/tmp', '--tmpfs', '/run', '--ro-bind', archives, DEBS,
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--die-with-parent', '--chdir', '/',
    'dpkg', `--admindir=${ADMINDIR}`, '--force-confdef', '--force-confold', '--force-unsafe-io', ...argv,
  ], { env: SANDBOX_ENV });
  await phase('dpkg in bwrap', async () => {
    for (const st of steps) {
      if (st.kind === 'unpack') await bwrap(['--unpack', ...st.items.map((d) => `${DEBS}/${d}`)]);
      else await bwrap(['--configure', ...st.items]);
    }
    // What apt-get install ends with: whatever is left (triggers) gets configured.
    await bwrap(['--configure', '-a']);
  });

  await phase('cleanup tree', async () => {
    await unlink(join(tree, 'usr/sbin/policy-rc.d'));
    await rmdir(join(tree, 'etc'));
    for (const dir of ['var', 'run', 'tmp']) {
      for (const name of await readdir(join(tree, dir))) await rm(join(tree, dir, name), { recursive: true, force: true });
    }
    for (const name of await readdir(join(tree, ADMINDIR))) {
      if (name.endsWith('-old') || name.startsWith('lock')) await rm(join(tree, ADMINDIR, name), { force: true });
    }
  });
  const checksum = await phase('ostree commit', async () => (await run([
    'ostree', 'commit', `--repo=${s.repo}`, `--tree=dir=${tree}`, `--parent=${base}`, '--orphan', '--link-checkout-speedup',
    '--bootable', `--subject=raw layered: ${o.packages.join(',')}`, `--add-metadata-string=apt-ostree.base=${base}`,
  ])).stdout.trim());
  const deployment = await phase('ostree admin deploy', async () => {
    const origin = join(o.aptDir, 'origin');
    await writeFile(origin, `[origin]\nbaserefspec=${s.refspec}\n\n[packages]\nrequested=${o.packages.join(';')};\n`);
    await run(['ostree', 'admin', 'deploy', `--sysroot=${s.path}`, `--os=${s.osname}`, `--origin-file=${origin}`, checksum]);
    const dir = join(s.stateroot, 'deploy');
    const name = (await readdir(dir)).find((n) => n.startsWith(`${checksum}.`) && !n.endsWith('.origin'));
    if (name === undefined) throw new Error(`raw: no deployment of ${checksum}`);
    return join(dir, name);
  });
  await phase('passwd/group merge', () => mergeAccounts(deployment));
  await phase('rm -rf tree', () => run(['rm', '-rf', '--one-file-system', tree]));
  return { checksum, deployment, unpacked, phases };
}

/** `Inst`/`Conf` lines of `apt-get -s`, batched: consecutive lines of one kind become one dpkg call. */
export function parsePlan(simulation: string): Step[] {
  const steps: Step[] = [];
  const add = (kind: Step['kind'], item: string): void => {
    const last = steps.at(-1);
    if (last?.kind === kind) last.items.push(item);
    else steps.push({ kind, items: [item] });
  };
  for (const line of simulation.split('\n')) {
    if (line.startsWith('Remv ')) throw new Error(`raw: the plan removes a package: ${line}`);
    const inst = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/.exec(line);
    if (inst) {
      const [, name, version, arch] = inst;
      add('unpack', `${name!}_${version!.replaceAll(':', '%3a')}_${arch!}.deb`);
      continue;
    }
    const conf = /^Conf (\S+) /.exec(line);
    if (conf) add('configure', conf[1]!);
  }
  if (steps.length === 0) throw new Error(`raw: apt-get -s planned nothing:\n${simulation}`);
  return steps;
}

/** Users and groups the scripts added to usr/etc but the merged /etc lacks (05-layer.sh's PASSWD_MERGE). */
async function mergeAccounts(deployment: string): Promise<void> {
  for (const file of ['passwd', 'group', 'shadow', 'gshadow']) {
    const etc = join(deployment, 'etc', file);
    const [mine, theirs] = await Promise.all([readFile(etc, 'utf8').catch(() => null), readFile(join(deployment, 'usr/etc', file), 'utf8').catch(() => '')]);
    if (mine === null) continue;
    const have = new Set(mine.split('\n').map((l) => l.split(':')[0]));
    const missing = theirs.split('\n').filter((l) => l !== '' && !have.has(l.split(':')[0]));
    if (missing.length === 0) continue;
    const st = await stat(etc);
    const tmp = `${etc}.raw-new`;
    await writeFile(tmp, `${mine}${mine.endsWith('\n') || mine === '' ? '' : '\n'}${missing.join('\n')}\n`);
    await chown(tmp, st.uid, st.gid);
    await chmod(tmp, st.mode & 0o7777);
    await rename(tmp, etc);
  }
}
