/**
 * The real-Debian base image for the slow suite: `apt-ostree compose tree` of tests/debian/test-image.yaml (the
 * shipped examples/minimal-server.yaml with a fast qemu initramfs) from the Debian archive the host's apt sources
 * name, into an archive OSTree repository. Built once and cached between runs:
 *
 *   <cache>/debs/      the .debs of the builds (compose --cachedir; shared with the VM suite's image and any
 *                      compose running at the same time): a rebuild downloads only what changed
 *   <cache>/resolve/   compose's apt lists for its resolution (shared the same way, one compose at a time)
 *   <cache>/<hash>/    repo/ (archive repo with the commit) and manifest.json; hash of the treefiles, the compose
 *                      code and the host's ostree
 *
 * <cache> is /var/tmp/apt-ostree-debian (APT_OSTREE_DEBIAN_CACHE); APT_OSTREE_DEBIAN_DIR replaces <cache>/<hash>.
 * APT_OSTREE_DEBIAN_REFRESH=1 rebuilds (to follow the archive). Needs root, mmdebstrap and the network.
 *
 * composeTestImage and cachedTestImage are the two steps every cached test image takes (the VM suite's too:
 * tests/vm/lib/image.ts): compose a treefile with the bundled CLI and the shared cache, and keep the result in a
 * build-once directory keyed by the hash of its inputs.
 */
import { access, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { ensureBuilt } from '../support/build-once.js';
import { hashInputs, removeTree } from './cache.js';

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
/** The bundled CLI, as shipped (`node build.mjs` makes it). */
export const CLI = join(PROJECT_ROOT, 'dist/apt-ostree.mjs');
export const TREEFILE = join(HERE, 'test-image.yaml');
const DEFAULT_CACHE_ROOT = '/var/tmp/apt-ostree-debian';
/** Complete builds not used for this long are removed when a new one is made. */
const STALE_AFTER_MS = 2 * 24 * 3600 * 1000;

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

/** What `apt-ostree compose tree --json` says. */
export interface ComposeJson {
  ref: string;
  commit: string;
  version: string;
  packages: string[];
  phases: { name: string; seconds: number }[];
}

export interface ComposedImage extends ComposeJson {
  /** ostree.linux of the commit. */
  kernelVersion: string;
}

export interface ComposeImageOptions {
  treefile: string;
  /** An archive repository (created by the caller). */
  repo: string;
  /** The suite's cache root: its debs/ and resolve/ are shared by every compose of the suites (tests/debian, tests/vm). */
  cacheRoot: string;
  /** compose's --workdir, kept (the tree stays in <workDir>/rootfs); default: compose's own temporary one. */
  workDir?: string;
  log: (line: string) => void;
}

/** A compose that failed: the CLI's stderr. */
export class ComposeFailed extends Error {
  constructor(readonly stderr: string) {
    super(`apt-ostree compose tree failed:\n${stderr.trim()}`);
  }
}

/**
 * `apt-ostree compose tree TREEFILE` (the bundled CLI, as shipped) into an archive repository, with the suites'
 * shared cache; mmdebstrap's I:/W:/E: lines go to the log.
 */
export async function composeTestImage(opts: ComposeImageOptions): Promise<ComposedImage> {
  const argv = [process.execPath, CLI, 'compose', 'tree', opts.treefile, '--repo', opts.repo, '--cachedir', opts.cacheRoot,
    ...(opts.workDir !== undefined ? ['--workdir', opts.workDir] : []), '--json'];
  const out = await runUnchecked(argv, { onStderrLine: (l) => { if (!/^\[\s*[\d.]+s\]\s{3}/.test(l) || /[EW]: /.test(l)) opts.log(l); } });
  if (out.code !== 0) throw new ComposeFailed(out.stderr);
  const result = JSON.parse(out.stdout) as ComposeJson;
  const kernel = (await run(['ostree', 'show', `--repo=${opts.repo}`, '--print-metadata-key=ostree.linux', result.commit])).stdout.trim().replace(/^'|'$/g, '');
  opts.log(`composed ${result.commit.slice(0, 12)} (${result.version}, ${result.packages.length} packages): `
    + result.phases.map((p) => `${p.name} ${p.seconds.toFixed(1)}s`).join(', '));
  return { ...result, kernelVersion: kernel };
}

/** manifest.json of a cached build directory, beside its repo/. */
interface BuildManifest<T> {
  hash: string;
  image: T;
  builtAt: string;
  seconds: number;
}

export interface CachedBuildOptions<T extends { ref: string }> {
  /** The build's directory: repo/ (an archive repository holding `ref`) and manifest.json. */
  dir: string;
  /** Of every input: another hash is another build. */
  hash: string;
  /** Build again even when `dir` is complete (once per process). */
  refresh: boolean;
  /** Fills a fresh temporary directory (repo/ and whatever else) and describes what it built. */
  build: (tmp: string) => Promise<T>;
  log: (line: string) => void;
  /** How long to wait for another process's build of the same directory; default 20 minutes. */
  lockTimeoutMs?: number;
}

/**
 * The cached test image of the suites: `dir` when it holds a complete build of `hash`, else a new build (one
 * process builds, others wait and reuse it: tests/support/build-once.ts). Returns the build's description.
 */
export async function cachedTestImage<T extends { ref: string }>(opts: CachedBuildOptions<T>): Promise<T> {
  let refreshed = false;
  const complete = async (dir: string): Promise<boolean> => {
    if (opts.refresh && !refreshed) return false;
    const m = await readJson<BuildManifest<T>>(join(dir, 'manifest.json'));
    return m?.hash === opts.hash && await exists(join(dir, 'repo/refs/heads', m.image.ref));
  };
  await ensureBuilt(opts.dir, complete, async (tmp) => {
    const t0 = Date.now();
    const image = await opts.build(tmp);
    refreshed = true;
    const manifest: BuildManifest<T> = { hash: opts.hash, image, builtAt: new Date().toISOString(), seconds: Math.round((Date.now() - t0) / 1000) };
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }, {
    lockTimeoutMs: opts.lockTimeoutMs ?? 20 * 60 * 1000,
    onWait: (pid) => { opts.log(`waiting for pid ${pid}, which builds ${opts.dir}`); },
  });
  await touch(join(opts.dir, 'manifest.json'));
  const manifest = await readJson<BuildManifest<T>>(join(opts.dir, 'manifest.json'));
  if (manifest === undefined) throw new Error(`${opts.dir}/manifest.json is unreadable`);
  return manifest.image;
}

/** Where the suites keep their builds and .debs. */
export function debianCacheRoot(): string {
  return process.env.APT_OSTREE_DEBIAN_CACHE ?? DEFAULT_CACHE_ROOT;
}

/** The host's ostree version: a build made with another one is another build. */
export async function hostOstreeVersion(): Promise<string> {
  return /Version: '([^']+)'/.exec((await run(['ostree', '--version'])).stdout)?.[1] ?? '?';
}

async function buildOrReuse(opts: DebianBaseOptions): Promise<DebianBase> {
  const started = Date.now();
  const log = opts.log ?? ((line: string) => {
    process.stderr.write(`debian-base [${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  });
  if (process.getuid?.() !== 0) throw new Error('the real-Debian base is composed as root (mmdebstrap --mode=root)');

  const cacheRoot = debianCacheRoot();
  const hash = await hashInputs({ ostreeVersion: await hostOstreeVersion(), recipe: 5 }, PROJECT_ROOT,
    ['tests/debian/test-image.yaml', 'tests/debian/files', 'examples', 'src/core/compose', 'src/core/layering', 'src/lib']);
  const baseDir = process.env.APT_OSTREE_DEBIAN_DIR ?? join(cacheRoot, hash);
  const base = await cachedTestImage<Omit<DebianBase, 'archiveRepo' | 'dir'>>({
    dir: baseDir, hash, refresh: process.env.APT_OSTREE_DEBIAN_REFRESH === '1', log,
    build: async (tmp) => {
      const repo = join(tmp, 'repo');
      await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
      log(`apt-ostree compose tree ${TREEFILE} (cache ${cacheRoot}/debs)`);
      const result = await composeTestImage({ treefile: TREEFILE, repo, cacheRoot, log });
      await run(['ostree', 'summary', '-u', `--repo=${repo}`]);
      await pruneStale(cacheRoot, [baseDir], log);
      return {
        ref: result.ref, commit: result.commit, version: result.version, suite: SUITE, kernelVersion: result.kernelVersion,
        packagesCount: result.packages.length,
      };
    },
  });
  if (Date.now() - started > 2000) log(`ready: ${base.ref} ${base.commit.slice(0, 12)} in ${baseDir}`);
  return { ...base, archiveRepo: join(baseDir, 'repo'), dir: baseDir };
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
