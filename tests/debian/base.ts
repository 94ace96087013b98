/**
 * A real Debian base image for the slow suite: a minimal trixie root built with mmdebstrap from the Debian archive
 * (the address is read from the host's apt sources), turned into a base image by applyBaseImageContract and
 * committed into an archive OSTree repository. Built once and cached between runs:
 *
 *   <cache>/debs/            the .debs of the last build; a rebuild takes them from here instead of the network
 *   <cache>/rootfs-<hash>/   the plain root as mmdebstrap left it (hash of the package recipe)
 *   <cache>/<hash>/          repo/ (archive repo with the base commit) and manifest.json
 *                            (hash of the rootfs hash, src/core/compose and the commit recipe)
 *
 * <cache> is /var/tmp/apt-ostree-debian (APT_OSTREE_DEBIAN_CACHE); APT_OSTREE_DEBIAN_DIR replaces <cache>/<hash>.
 * A change to the compose code only redoes the contract and the commit (~1 min), not the download and install.
 * APT_OSTREE_DEBIAN_REFRESH=1 rebuilds everything (to follow the archive). Needs root, mmdebstrap and network.
 */
import { access, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyBaseImageContract } from '../../src/core/compose/contract.js';
import { run, runUnchecked, type ExecOptions } from '../../src/lib/exec.js';
import { ensureBuilt, hashInputs, removeTree } from './cache.js';
import { hostDebianArchive, type DebianArchive } from './host-sources.js';

export interface DebianBase {
  /** Archive-mode OSTree repository holding `ref` (and a summary file). */
  archiveRepo: string;
  /** `debian/13/x86_64/minbase`. */
  ref: string;
  /** Checksum of the base commit. */
  commit: string;
  /** The commit's `version` metadata, e.g. `13.1.20250901`. */
  version: string;
  /** Debian suite the image was built from (`trixie`). */
  suite: string;
  /** The kernel in /usr/lib/modules. */
  kernelVersion: string;
  /** Packages installed in the image (dpkg status `installed`). */
  packagesCount: number;
  /** The directory of this build (repo/, manifest.json). */
  dir: string;
}

export const SUITE = 'trixie';
export const DEBIAN_MAJOR = '13';
export const OSNAME = 'debian';

const HERE = dirname(fileURLToPath(import.meta.url));
const PROJECT_ROOT = join(HERE, '../..');
const DEFAULT_CACHE_ROOT = '/var/tmp/apt-ostree-debian';
/** Complete builds not used for this long are removed when a new one is made. */
const STALE_AFTER_MS = 2 * 24 * 3600 * 1000;

/**
 * dracut's default (every storage driver, zstd) takes most of a minute here; tests boot under qemu with virtio,
 * so the image gets the lab's fast, virtio-only, uncompressed initramfs. The snippet stays in the image
 * (/usr/etc/dracut.conf.d), so an initramfs regenerated later is built the same way. Not for real hardware.
 */
export const FAST_DRACUT_CONF = [
  '# apt-ostree test image: fast, virtio-only, uncompressed initramfs (qemu only, not for real hardware)',
  'hostonly="no"',
  'drivers="virtio_blk virtio_pci virtio_scsi ext4"',
  'compress="cat"',
  '',
].join('\n');
const DRACUT_CONF_PATH = 'etc/dracut.conf.d/90-apt-ostree-test.conf';

/**
 * A smaller image (and fewer files to commit and check out): no manuals, translations or documentation but the
 * copyright files. Written as a dpkg.cfg.d file by an essential hook rather than passed as mmdebstrap --dpkgopt:
 * with --dpkgopt mmdebstrap pipes every essential package through its Python tar filter, which takes ~40 s here.
 * The essential set is therefore installed unfiltered (a few MB); everything after it is filtered by dpkg itself.
 * The file stays in the image, so layered packages are filtered the same way.
 */
const DPKG_EXCLUDES = [
  '# apt-ostree test image: no manuals, translations or documentation',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  '',
].join('\n');
const DPKG_EXCLUDES_PATH = 'etc/dpkg/dpkg.cfg.d/90-apt-ostree-test-excludes';
/** mmdebstrap's hook directory that runs dpkg under eatmydata (no fsync) during the build only. */
const EATMYDATA_HOOKS = '/usr/share/mmdebstrap/hooks/eatmydata';

const ARCHES: Record<string, { ostree: string; kernel: string } | undefined> = {
  amd64: { ostree: 'x86_64', kernel: 'linux-image-amd64' },
  arm64: { ostree: 'aarch64', kernel: 'linux-image-arm64' },
};

/** Everything that decides the content of the mmdebstrap root. Bump `recipe` when the build steps change. */
function rootfsRecipe(arch: string, kernelPackage: string, withSecurity: boolean): Record<string, unknown> {
  return {
    recipe: 3,
    suite: SUITE,
    arch,
    variant: 'minbase',
    components: ['main'],
    withSecurity,
    packages: [
      'systemd', 'systemd-sysv', 'udev', 'dbus', kernelPackage, 'dracut', 'ostree', 'ostree-boot', 'bubblewrap',
      'apt', 'dpkg', 'adduser',
    ],
    aptOpts: ['Acquire::Languages "none"'],
    dpkgExcludes: DPKG_EXCLUDES,
    dracut: FAST_DRACUT_CONF,
  };
}

export interface DebianBaseOptions {
  /** Progress lines; default: stderr with the elapsed time. */
  log?: (line: string) => void;
}

let memo: Promise<DebianBase> | undefined;

/** Builds the base once per cache key (or reuses it) and describes it. Several calls in one process share one build. */
export function getDebianBase(opts: DebianBaseOptions = {}): Promise<DebianBase> {
  memo ??= buildOrReuse(opts);
  return memo;
}

interface RootfsManifest {
  hash: string;
  kernelVersion: string;
  debianVersion: string;
  mirror: string;
  builtAt: string;
  seconds: number;
}

interface BaseManifest {
  hash: string;
  base: Omit<DebianBase, 'archiveRepo' | 'dir'>;
  contractWarnings: string[];
  builtAt: string;
  seconds: number;
}

async function buildOrReuse(opts: DebianBaseOptions): Promise<DebianBase> {
  const started = Date.now();
  const log = opts.log ?? ((line: string) => {
    process.stderr.write(`debian-base [${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  });
  if (process.getuid?.() !== 0) throw new Error('the real-Debian base is built as root (mmdebstrap --mode=root)');

  const cacheRoot = process.env.APT_OSTREE_DEBIAN_CACHE ?? DEFAULT_CACHE_ROOT;
  const arch = (await run(['dpkg', '--print-architecture'])).stdout.trim();
  const archInfo = ARCHES[arch];
  if (!archInfo) throw new Error(`no real-Debian base recipe for architecture ${arch}`);
  const ref = `debian/${DEBIAN_MAJOR}/${archInfo.ostree}/minbase`;
  const archive = await hostDebianArchive();
  const recipe = rootfsRecipe(arch, archInfo.kernel, archive.securityMirror !== undefined);
  const rootfsHash = await hashInputs(recipe, PROJECT_ROOT);
  const ostreeVersion = /Version: '([^']+)'/.exec((await run(['ostree', '--version'])).stdout)?.[1] ?? '?';
  const baseHash = await hashInputs({ rootfsHash, ref, ostreeVersion, commitRecipe: 2 }, PROJECT_ROOT,
    // What applyBaseImageContract runs (it imports nothing else from src/).
    ['src/core/compose', 'src/lib/errors.ts']);
  const baseDir = process.env.APT_OSTREE_DEBIAN_DIR ?? join(cacheRoot, baseHash);
  const refresh = process.env.APT_OSTREE_DEBIAN_REFRESH === '1';
  let refreshed = false;

  const baseComplete = async (dir: string): Promise<boolean> => {
    if (refresh && !refreshed) return false;
    const m = await readJson<BaseManifest>(join(dir, 'manifest.json'));
    return m?.hash === baseHash && await exists(join(dir, 'repo/refs/heads', ref));
  };

  await ensureBuilt(baseDir, baseComplete, async (tmp) => {
    const rootfsDir = join(cacheRoot, `rootfs-${rootfsHash}`);
    const rootfsComplete = async (dir: string): Promise<boolean> => {
      if (refresh && !refreshed) return false;
      return (await readJson<RootfsManifest>(join(dir, 'manifest.json')))?.hash === rootfsHash;
    };
    await ensureBuilt(rootfsDir, rootfsComplete, async (rtmp) => {
      await buildRootfs(rtmp, { cacheRoot, archive, recipe, rootfsHash, log });
    });
    refreshed = true;
    await touch(join(rootfsDir, 'manifest.json'));
    await composeAndCommit(tmp, { rootfsDir, ref, baseHash, log });
    await pruneStale(cacheRoot, [baseDir, rootfsDir], log);
  });
  await touch(join(baseDir, 'manifest.json'));

  const manifest = await readJson<BaseManifest>(join(baseDir, 'manifest.json'));
  if (!manifest) throw new Error(`${baseDir}/manifest.json is unreadable`);
  if (Date.now() - started > 2000) log(`ready: ${ref} ${manifest.base.commit.slice(0, 12)} in ${baseDir}`);
  return { ...manifest.base, archiveRepo: join(baseDir, 'repo'), dir: baseDir };
}

interface RootfsBuild {
  cacheRoot: string;
  archive: DebianArchive;
  recipe: Record<string, unknown>;
  rootfsHash: string;
  log: (line: string) => void;
}

/** mmdebstrap into `<tmp>/root`, with the .debs taken from and given back to the persistent cache. */
async function buildRootfs(tmp: string, b: RootfsBuild): Promise<void> {
  const t0 = Date.now();
  const root = join(tmp, 'root');
  const debs = join(b.cacheRoot, 'debs');
  const debsOut = join(tmp, 'debs-out');
  await mkdir(debs, { recursive: true });
  await mkdir(debsOut);
  const dracutConf = join(tmp, 'dracut.conf');
  await writeFile(dracutConf, FAST_DRACUT_CONF);
  const dpkgExcludes = join(tmp, 'dpkg-excludes.cfg');
  await writeFile(dpkgExcludes, DPKG_EXCLUDES);
  const eatmydata = await exists(EATMYDATA_HOOKS);
  const cached = (await readdir(debs)).filter((n) => n.endsWith('.deb')).length;
  const packages = b.recipe.packages as string[];
  b.log(`building Debian ${SUITE} with mmdebstrap from ${b.archive.mirror} (read from ${b.archive.origin}); `
    + `${cached} .debs cached in ${debs}`);
  b.log(`packages: minbase + ${packages.join(' ')}`);

  const mirrors = [
    `deb ${b.archive.mirror} ${SUITE} main`,
    `deb ${b.archive.mirror} ${SUITE}-updates main`,
    ...(b.archive.securityMirror !== undefined ? [`deb ${b.archive.securityMirror} ${SUITE}-security main`] : []),
  ];
  const argv = [
    'mmdebstrap', '--mode=root', '--format=directory', '--variant=minbase',
    `--include=${packages.join(',')}`,
    // The host's debian-archive-keyring (bookworm's has the trixie keys from 2023.3+deb12u2 on); used by the apt that
    // mmdebstrap runs, not stored in the image (which has its own keyring package).
    `--keyring=${b.archive.keyring}`,
    ...(b.recipe.aptOpts as string[]).map((o) => `--aptopt=${o}`),
    // dpkg without fsync while building (~15 s less); the hooks remove every trace of eatmydata afterwards.
    ...(eatmydata ? [`--hook-dir=${EATMYDATA_HOOKS}`] : []),
    // The .deb cache: hardlinked in before the download, hardlinked out after the install. download/empty lets
    // apt start with a non-empty archives directory, essential/unlink keeps the essential set's .debs for the
    // way out. Paths reach the hook scripts through the environment, never pasted into the script text.
    '--skip=download/empty', '--skip=essential/unlink',
    '--setup-hook=mkdir -p "$1/var/cache/apt/archives" && cp -al "$APT_OSTREE_DEBS_IN/." "$1/var/cache/apt/archives/"',
    // Configuration for what is installed after the essential set (dracut, the kernel, ...).
    `--essential-hook=mkdir -p "$1/${dirname(DRACUT_CONF_PATH)}" && cp "$APT_OSTREE_DRACUT_CONF" "$1/${DRACUT_CONF_PATH}"`
      + ` && cp "$APT_OSTREE_DPKG_EXCLUDES" "$1/${DPKG_EXCLUDES_PATH}"`,
    '--customize-hook=find "$1/var/cache/apt/archives" -maxdepth 1 -name "*.deb" -exec ln -t "$APT_OSTREE_DEBS_OUT" {} +',
    SUITE, root, ...mirrors,
  ];
  const logLines: string[] = [];
  const show = (line: string): void => {
    logLines.push(line);
    // Not shown: the hook command lines, and apt's note that eatmydata's own two .debs are fetched as root.
    if (/^(I|W|E): /.test(line) && !/hook in shell|hook directly|unsandboxed as root/.test(line)) b.log(`  ${line}`);
  };
  const env = {
    ...process.env, APT_OSTREE_DEBS_IN: debs, APT_OSTREE_DEBS_OUT: debsOut, APT_OSTREE_DRACUT_CONF: dracutConf,
    APT_OSTREE_DPKG_EXCLUDES: dpkgExcludes, LC_ALL: 'C.UTF-8',
    // Debian's kernel hook (/etc/kernel/postinst.d/dracut) skips the initramfs: it would run twice (kernel postinst
    // and dracut's trigger, ~20 s each here). It is built once below, after everything is installed.
    INITRD: 'No',
  };
  const execOpts: ExecOptions = { env, onStdoutLine: show, onStderrLine: show };
  const result = await runUnchecked(argv, execOpts);
  await writeFile(join(tmp, 'mmdebstrap.log'), `${argv.join(' ')}\n\n${logLines.join('\n')}\n`);
  if (result.code !== 0) {
    await writeFile(join(b.cacheRoot, 'failed-mmdebstrap.log'), `${argv.join(' ')}\n\n${logLines.join('\n')}\n`);
    const keyHint = /NO_PUBKEY|EXPKEYSIG|not signed|signatures were invalid/i.test(logLines.join('\n'))
      ? `: the keyring ${b.archive.keyring} can not verify ${SUITE}; upgrade debian-archive-keyring `
        + '(bookworm has the trixie keys from 2023.3+deb12u2 on, Debian 12.11)'
      : '';
    throw new Error(`mmdebstrap exited ${result.code}${keyHint}; full log: ${b.cacheRoot}/failed-mmdebstrap.log\n`
      + logLines.filter((l) => /^(E|W): /.test(l)).join('\n'));
  }
  b.log(`mmdebstrap done in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

  // The .deb cache now holds exactly this build's packages (old versions drop out).
  const newDebs = (await readdir(debsOut)).length;
  await removeTree(`${debs}.old`);
  await rename(debs, `${debs}.old`);
  await rename(debsOut, debs);
  await removeTree(`${debs}.old`);

  // mmdebstrap copies the build host's /etc/hostname and /etc/resolv.conf into the image and leaves them there.
  await rm(join(root, 'etc/hostname'), { force: true });
  await rm(join(root, 'etc/resolv.conf'), { force: true });
  const kernelVersion = await singleKernel(root);
  await buildInitramfs(root, kernelVersion, b.log);
  const debianVersion = (await readFile(join(root, 'etc/debian_version'), 'utf8')).trim();
  const manifest: RootfsManifest = {
    hash: b.rootfsHash,
    kernelVersion,
    debianVersion,
    mirror: b.archive.mirror,
    builtAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  b.log(`root: Debian ${debianVersion}, kernel ${kernelVersion}, ${newDebs} .debs now cached`);
}

async function singleKernel(root: string): Promise<string> {
  const versions = await readdir(join(root, 'usr/lib/modules'));
  if (versions.length !== 1) throw new Error(`expected one kernel in the image, found: ${versions.join(', ') || 'none'}`);
  return versions[0]!;
}

/** Runs a command inside the image root (bwrap, image as /, network off). */
function inRoot(root: string, argv: readonly string[], writable = false): Promise<{ code: number; stdout: string; stderr: string }> {
  return runUnchecked([
    'bwrap', writable ? '--bind' : '--ro-bind', root, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--tmpfs', '/run', '--unshare-pid', '--unshare-ipc', '--unshare-net', '--unshare-uts', '--die-with-parent',
    '--clearenv', '--setenv', 'PATH', '/usr/sbin:/usr/bin:/sbin:/bin', '--setenv', 'LC_ALL', 'C.UTF-8',
    ...argv,
  ]);
}

/**
 * The initramfs, built once with everything installed (ostree-boot's dracut module included): dracut in the image
 * (bwrap, image as /), then lsinitrd proves that it can mount an ostree deployment.
 */
async function buildInitramfs(root: string, kver: string, log: (line: string) => void): Promise<void> {
  const image = `/boot/initrd.img-${kver}`;
  const t0 = Date.now();
  log(`dracut --no-hostonly ${image} (fast virtio-only configuration)`);
  const built = await inRoot(root, ['dracut', '--quiet', '--force', '--no-hostonly', '--kver', kver, image], true);
  if (built.code !== 0) throw new Error(`dracut failed: ${(built.stderr + built.stdout).trim().slice(-2000)}`);
  const listing = await inRoot(root, ['lsinitrd', image]);
  if (listing.code !== 0) throw new Error(`lsinitrd ${image} failed: ${listing.stderr.trim()}`);
  if (!listing.stdout.includes('usr/lib/ostree/ostree-prepare-root')) {
    throw new Error(`dracut built ${image} without ostree-prepare-root: is ostree-boot installed?`);
  }
  log(`initramfs built in ${((Date.now() - t0) / 1000).toFixed(1)}s, has ostree-prepare-root`);
}

interface ComposeBuild {
  rootfsDir: string;
  ref: string;
  baseHash: string;
  log: (line: string) => void;
}

/** A copy of the root → base image contract → commit into `<tmp>/repo`. */
async function composeAndCommit(tmp: string, b: ComposeBuild): Promise<void> {
  const t0 = Date.now();
  const rootfs = await readJson<RootfsManifest>(join(b.rootfsDir, 'manifest.json'));
  if (!rootfs) throw new Error(`${b.rootfsDir}/manifest.json is unreadable`);
  const tree = join(tmp, 'tree');
  b.log('copying the root for the contract');
  // The contract edits files in place (machine-id, ...): a copy, never hardlinks into the cached root.
  await run(['cp', '-a', '--reflink=auto', join(b.rootfsDir, 'root'), tree]);
  const report = await applyBaseImageContract(tree, { onStep: (s) => { b.log(`contract: ${s}`); } });
  for (const w of report.warnings) b.log(`contract warning: ${w}`);
  if (report.initramfs !== 'present') throw new Error(`the contract found no initramfs for ${report.kernelVersion}`);

  const packagesCount = (await run(['dpkg-query', `--admindir=${join(tree, 'usr/share/dpkg/database')}`, '-W',
    '-f=${db:Status-Status}\n'])).stdout.split('\n').filter((s) => s === 'installed').length;
  const date = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const version = `${rootfs.debianVersion}.${date}`;
  const repo = join(tmp, 'repo');
  const bare = join(tmp, 'repo-bare');
  b.log(`ostree commit ${b.ref} (version ${version}, ${packagesCount} packages)`);
  // Committing into a bare repo and mirroring it into the archive repo takes half the time of a direct archive
  // commit here: pull-local compresses on several threads, commit on one.
  await run(['ostree', 'init', `--repo=${bare}`, '--mode=bare']);
  await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
  const commit = (await run([
    'ostree', 'commit', `--repo=${bare}`, `--branch=${b.ref}`, `--tree=dir=${tree}`, '--bootable',
    `--subject=Debian ${SUITE} minbase ${version}`,
    `--add-metadata-string=version=${version}`,
    `--add-metadata-string=apt-ostree.suite=${SUITE}`,
  ])).stdout.trim();
  await run(['ostree', 'pull-local', `--repo=${repo}`, bare, b.ref]);
  await run(['ostree', 'summary', '-u', `--repo=${repo}`]);
  await removeTree(bare);
  await removeTree(tree);

  const manifest: BaseManifest = {
    hash: b.baseHash,
    base: { ref: b.ref, commit, version, suite: SUITE, kernelVersion: report.kernelVersion, packagesCount },
    contractWarnings: report.warnings,
    builtAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  b.log(`committed ${commit.slice(0, 12)} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

/** Removes builds (of older recipes or compose code) that no run has used for a while. */
async function pruneStale(cacheRoot: string, keep: readonly string[], log: (line: string) => void): Promise<void> {
  for (const name of await readdir(cacheRoot)) {
    const dir = join(cacheRoot, name);
    if (keep.includes(dir) || !/^(rootfs-)?[0-9a-f]{16}$/.test(name)) continue;
    const st = await stat(join(dir, 'manifest.json')).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs < STALE_AFTER_MS) continue;
    log(`removing unused build ${dir}`);
    await removeTree(dir);
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function touch(path: string): Promise<void> {
  const now = new Date();
  await utimes(path, now, now).catch(() => undefined);
}
