/**
 * What the benchmarks layer onto: the test kit (tiny Debian, served over HTTP from this process) or the real Debian
 * trixie base (tests/debian/base.ts) with packages from the archive the host's apt sources name. Each gives fresh
 * sysroots on base v1 or v2 whose deployment's apt sources are written, and nothing cached yet.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { loadSysroot } from '../../src/core/sysroot/sysroot.js';
import { getKit } from '../../tests/kit/index.js';
import { serveDirectory } from '../../tests/kit/http.js';
import { newSysroot, removeSysroot } from '../../tests/kit/sysroot.js';
import { getDebianBase, OSNAME as DEBIAN_OSNAME, SUITE } from '../../tests/debian/base.js';
import { hostDebianArchive, type DebianArchive } from '../../src/core/compose/archive-sources.js';
import { BENCH_ROOT, formatTable, log, parseArgs, writeByRename, type BenchArgs, type ScenarioResult } from './common.js';

export type BaseVersion = 'v1' | 'v2';

export interface BenchSysroot {
  path: string;
  repo: string;
  osname: string;
  /** `remote:ref` the deployment follows. */
  refspec: string;
  /** The deployed base commit. */
  base: string;
  /** The default deployment's directory. */
  deployment: string;
  /** `ostree/deploy/<osname>`: var/ of the stateroot holds the caches and work trees. */
  stateroot: string;
  /** apt-ostree's apt cache (lists/, archives/). */
  oursCacheDir: string;
  remove(): Promise<void>;
}

export interface BenchTarget {
  name: 'kit' | 'debian';
  /** The packages the layering benchmark installs (10). */
  packages: readonly string[];
  /** A second, small request (layering of one package and what it needs). */
  smallPackages: readonly string[];
  commits: Readonly<Record<BaseVersion, string>>;
  newSysroot(on: BaseVersion): Promise<BenchSysroot>;
  close(): Promise<void>;
}

/** Ten layerable kit packages: kit-failing, kit-conflicts and kit-skew can not be layered on v1 on purpose. */
export const KIT_PACKAGES = [
  'kit-libbaz1', 'kit-libbar1', 'kit-app', 'kit-mta', 'kit-mailer', 'kit-predep', 'kit-conffile', 'kit-daemon',
  'kit-alternatives', 'kit-opt',
] as const;

export const DEBIAN_PACKAGES = ['htop', 'chrony', 'tree', 'less', 'curl', 'jq', 'vim-tiny', 'nano', 'ncdu', 'rsync'] as const;

async function deployTip(path: string, repo: string, osname: string, remote: string, ref: string): Promise<void> {
  await run(['ostree', 'pull', `--repo=${repo}`, remote, ref]);
  await run(['ostree', 'admin', 'deploy', `--sysroot=${path}`, `--os=${osname}`, `${remote}:${ref}`]);
}

async function describeSysroot(path: string, osname: string, refspec: string, remove: () => Promise<void>): Promise<BenchSysroot> {
  const sysroot = await loadSysroot(path);
  const d = sysroot.deployments.find((x) => x.osname === osname);
  if (!d) throw new Error(`no deployment of ${osname} in ${path}`);
  const stateroot = join(path, 'ostree/deploy', osname);
  return {
    path, repo: join(path, 'ostree/repo'), osname, refspec, base: d.checksum, deployment: d.path, stateroot,
    oursCacheDir: join(stateroot, 'var/cache/apt-ostree'), remove,
  };
}

export async function kitTarget(): Promise<BenchTarget> {
  const kit = await getKit();
  const server = await serveDirectory(kit.dir);
  await mkdir(BENCH_ROOT, { recursive: true });
  const [remote, ref] = [kit.remoteName, kit.refs.main];
  return {
    name: 'kit',
    packages: KIT_PACKAGES,
    smallPackages: ['kit-app'],
    commits: { v1: kit.commits.v1, v2: kit.commits.v2 },
    newSysroot: async (on) => {
      const s = await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive`, parentDir: BENCH_ROOT });
      const remove = (): Promise<void> => removeSysroot(s.path);
      try {
        if (on === 'v2') await deployTip(s.path, s.repo, s.osname, remote, ref);
        const described = await describeSysroot(s.path, s.osname, s.refspec, remove);
        if (described.base !== kit.commits[on]) throw new Error(`expected ${on} deployed, got ${described.base}`);
        const list = join(described.deployment, 'etc/apt/sources.list.d');
        await mkdir(list, { recursive: true });
        await writeByRename(join(list, 'kit.list'), `${kit.aptSourcesLine(`${server.url}/apt`)}\n`);
        return described;
      } catch (err) {
        await remove();
        throw err;
      }
    },
    close: () => server.close(),
  };
}

/**
 * The real trixie base as v1, and a v2 made from it for the re-layering benchmark: v1's tree plus one file, committed
 * with v1 as parent (as lab/11-upgrade-relayer.sh does), in an archive repository of the benchmark's own whose
 * objects are hardlinks of the cached base's (objects are immutable; new ones are new files).
 */
export async function debianTarget(): Promise<BenchTarget> {
  const base = await getDebianBase();
  const archive = await hostDebianArchive();
  const repo = await debianV2Repo(base.archiveRepo, base.ref, base.commit, base.version);
  const v2 = (await run(['ostree', 'rev-parse', `--repo=${repo}`, base.ref])).stdout.trim();
  const remote = 'debian';
  log(`debian: base ${base.ref} v1 ${base.commit.slice(0, 12)} v2 ${v2.slice(0, 12)}; archive ${archive.mirror} (from ${archive.origin})`);
  return {
    name: 'debian',
    packages: DEBIAN_PACKAGES,
    smallPackages: ['htop'],
    commits: { v1: base.commit, v2 },
    newSysroot: async (on) => {
      const work = await mkdtemp(join(BENCH_ROOT, 'debian-'));
      const path = join(work, 'sysroot');
      const sysrootRepo = join(path, 'ostree/repo');
      const remove = (): Promise<void> => removeWork(work, DEBIAN_OSNAME);
      try {
        await mkdir(path);
        await run(['ostree', 'admin', 'init-fs', path]);
        await run(['ostree', 'admin', 'os-init', `--sysroot=${path}`, DEBIAN_OSNAME]);
        await run(['ostree', 'remote', 'add', `--repo=${sysrootRepo}`, '--no-gpg-verify', remote, `file://${repo}`, base.ref]);
        await run(['ostree', 'pull', `--repo=${sysrootRepo}`, remote, `${base.ref}@${base.commit}`]);
        await run(['ostree', 'admin', 'deploy', `--sysroot=${path}`, `--os=${DEBIAN_OSNAME}`, '--karg=root=/dev/vda',
          `${remote}:${base.ref}`]);
        if (on === 'v2') await deployTip(path, sysrootRepo, DEBIAN_OSNAME, remote, base.ref);
        const described = await describeSysroot(path, DEBIAN_OSNAME, `${remote}:${base.ref}`, remove);
        if (described.base !== (on === 'v1' ? base.commit : v2)) throw new Error(`expected ${on} deployed, got ${described.base}`);
        await useHostArchive(described.deployment, archive);
        return described;
      } catch (err) {
        await remove();
        throw err;
      }
    },
    close: () => Promise.resolve(),
  };
}

async function removeWork(work: string, osname: string): Promise<void> {
  const deployRoot = join(work, 'sysroot/ostree/deploy', osname, 'deploy');
  const roots = (await readdir(deployRoot).catch(() => [] as string[])).filter((n) => !n.endsWith('.origin')).map((n) => join(deployRoot, n));
  if (roots.length > 0) await runUnchecked(['chattr', '-i', ...roots]);
  await rm(work, { recursive: true, force: true });
}

async function debianV2Repo(baseRepo: string, ref: string, v1: string, version: string): Promise<string> {
  const dir = join(BENCH_ROOT, `debian-v2-${v1.slice(0, 16)}`);
  const repo = join(dir, 'repo');
  if (await stat(join(dir, 'complete')).catch(() => null)) return repo;
  log(`debian: making base v2 in ${repo}`);
  // The v2 of an older base keeps that base's objects alive (hardlinks): only the current one is kept.
  for (const name of await readdir(BENCH_ROOT)) {
    if (name.startsWith('debian-v2-')) await rm(join(BENCH_ROOT, name), { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
  await run(['cp', '-al', `${join(baseRepo, 'objects')}/.`, join(repo, 'objects')]);
  await run(['ostree', 'refs', `--repo=${repo}`, `--create=${ref}`, v1]);
  const extra = join(dir, 'extra');
  await mkdir(join(extra, 'usr/share/apt-ostree-bench'), { recursive: true });
  await writeFile(join(extra, 'usr/share/apt-ostree-bench/base-version'), 'v2\n');
  await run(['ostree', 'commit', `--repo=${repo}`, `--branch=${ref}`, `--parent=${v1}`, `--tree=ref=${v1}`, `--tree=dir=${extra}`,
    '--bootable', `--subject=bench: v1 plus one file`, `--add-metadata-string=version=${version}.1`,
    `--add-metadata-string=apt-ostree.suite=${SUITE}`]);
  await run(['ostree', 'summary', '-u', `--repo=${repo}`]);
  await rm(extra, { recursive: true, force: true });
  await writeFile(join(dir, 'complete'), `${new Date().toISOString()}\n`);
  return repo;
}

/**
 * The deployment's apt points at the archive the host uses (deb822, verified by the host's keyring: apt runs on the
 * host with the deployment's /etc/apt); mmdebstrap's one-line sources.list is emptied so each source is listed once.
 */
async function useHostArchive(deployment: string, archive: DebianArchive): Promise<void> {
  const stanza = (uri: string, suites: string): string =>
    ['Types: deb', `URIs: ${uri}`, `Suites: ${suites}`, 'Components: main', `Signed-By: ${archive.keyring}`, ''].join('\n');
  const etcApt = join(deployment, 'etc/apt');
  await mkdir(join(etcApt, 'sources.list.d'), { recursive: true });
  await writeByRename(join(etcApt, 'sources.list.d/debian.sources'), [
    '# Written by the apt-ostree benchmark from the host\'s apt sources.',
    stanza(archive.mirror, `${SUITE} ${SUITE}-updates`),
    ...(archive.securityMirror !== undefined ? [stanza(archive.securityMirror, `${SUITE}-security`)] : []),
  ].join('\n'));
  await writeByRename(join(etcApt, 'sources.list'), '# See sources.list.d/debian.sources.\n');
}

/**
 * The benchmarks' main: parse the options, run `bench` on the kit (unless --no-kit) and on real Debian (with
 * --debian), closing each target, and print one table of every scenario.
 */
export async function benchMain(
  usage: string,
  bench: (args: BenchArgs, target: BenchTarget) => Promise<ScenarioResult[]>,
): Promise<void> {
  const args = parseArgs(process.argv.slice(2), usage);
  const results: ScenarioResult[] = [];
  const targets: (() => Promise<BenchTarget>)[] = [];
  if (!args.noKit) targets.push(kitTarget);
  if (args.debian) targets.push(debianTarget);
  for (const open of targets) {
    const target = await open();
    try {
      results.push(...await bench(args, target));
    } finally {
      await target.close();
    }
  }
  process.stdout.write(`\n${formatTable(results)}\n`);
}
