/**
 * The real-Debian base image for the slow suite: `apt-ostree compose tree` of tests/debian/test-image.yaml (the
 * shipped examples/minimal-server.yaml with a fast qemu initramfs) from the Debian archive the host's apt sources
 * name, into an archive OSTree repository. Built once and cached between runs:
 *
 *   <cache>/debs/      the .debs of the last build (compose --cachedir): a rebuild downloads only what changed
 *   <cache>/<hash>/    repo/ (archive repo with the commit) and manifest.json; hash of the treefiles, the compose
 *                      code and the host's ostree
 *
 * <cache> is /var/tmp/apt-ostree-debian (APT_OSTREE_DEBIAN_CACHE); APT_OSTREE_DEBIAN_DIR replaces <cache>/<hash>.
 * APT_OSTREE_DEBIAN_REFRESH=1 rebuilds (to follow the archive). Needs root, mmdebstrap and the network.
 */
import { access, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/lib/exec.js';
import { ensureBuilt, hashInputs, removeTree } from './cache.js';

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
const CLI = join(PROJECT_ROOT, 'dist/apt-ostree.mjs');
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

interface BaseManifest {
  hash: string;
  base: Omit<DebianBase, 'archiveRepo' | 'dir'>;
  builtAt: string;
  seconds: number;
}

interface ComposeJson {
  ref: string;
  commit: string;
  version: string;
  packages: string[];
  phases: { name: string; seconds: number }[];
}

async function buildOrReuse(opts: DebianBaseOptions): Promise<DebianBase> {
  const started = Date.now();
  const log = opts.log ?? ((line: string) => {
    process.stderr.write(`debian-base [${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  });
  if (process.getuid?.() !== 0) throw new Error('the real-Debian base is composed as root (mmdebstrap --mode=root)');

  const cacheRoot = process.env.APT_OSTREE_DEBIAN_CACHE ?? DEFAULT_CACHE_ROOT;
  const ostreeVersion = /Version: '([^']+)'/.exec((await run(['ostree', '--version'])).stdout)?.[1] ?? '?';
  const hash = await hashInputs({ ostreeVersion, recipe: 4 }, PROJECT_ROOT,
    ['tests/debian/test-image.yaml', 'tests/debian/files', 'examples', 'src/core/compose', 'src/core/layering', 'src/lib']);
  const baseDir = process.env.APT_OSTREE_DEBIAN_DIR ?? join(cacheRoot, hash);
  const refresh = process.env.APT_OSTREE_DEBIAN_REFRESH === '1';
  let refreshed = false;

  const complete = async (dir: string): Promise<boolean> => {
    if (refresh && !refreshed) return false;
    const m = await readJson<BaseManifest>(join(dir, 'manifest.json'));
    return m?.hash === hash && await exists(join(dir, 'repo/refs/heads', m.base.ref));
  };

  await ensureBuilt(baseDir, complete, async (tmp) => {
    const t0 = Date.now();
    const repo = join(tmp, 'repo');
    await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
    log(`apt-ostree compose tree ${TREEFILE} (cache ${cacheRoot}/debs)`);
    const argv = [process.execPath, CLI, 'compose', 'tree', TREEFILE, '--repo', repo, '--cachedir', cacheRoot, '--json'];
    const out = await run(argv, { onStderrLine: (l) => { if (!/^\[\s*[\d.]+s\]\s{3}/.test(l) || /[EW]: /.test(l)) log(l); } });
    const result = JSON.parse(out.stdout) as ComposeJson;
    refreshed = true;
    await run(['ostree', 'summary', '-u', `--repo=${repo}`]);
    const kernel = (await run(['ostree', 'show', `--repo=${repo}`, '--print-metadata-key=ostree.linux', result.commit])).stdout.trim().replace(/^'|'$/g, '');
    const manifest: BaseManifest = {
      hash,
      base: {
        ref: result.ref, commit: result.commit, version: result.version, suite: SUITE, kernelVersion: kernel,
        packagesCount: result.packages.length,
      },
      builtAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`composed ${result.commit.slice(0, 12)} (${result.version}, ${result.packages.length} packages): `
      + result.phases.map((p) => `${p.name} ${p.seconds.toFixed(1)}s`).join(', '));
    await pruneStale(cacheRoot, [baseDir], log);
  });
  await touch(join(baseDir, 'manifest.json'));

  const manifest = await readJson<BaseManifest>(join(baseDir, 'manifest.json'));
  if (!manifest) throw new Error(`${baseDir}/manifest.json is unreadable`);
  if (Date.now() - started > 2000) log(`ready: ${manifest.base.ref} ${manifest.base.commit.slice(0, 12)} in ${baseDir}`);
  return { ...manifest.base, archiveRepo: join(baseDir, 'repo'), dir: baseDir };
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
