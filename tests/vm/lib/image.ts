/**
 * The VM suite's OS images, in one archive repository on one ref:
 * - v1: `apt-ostree compose tree` of tests/vm/image.yaml plus apt-ostree itself — our .deb (built by
 *   packaging/build-deb.ts, what `make deb` runs) as the treefile's `local-debs`, or, with
 *   APT_OSTREE_VM_INSTALL=files or without packaging/, the bundles and data files staged by apt-ostree-files.yaml;
 * - v2: the same tree with one file changed (/usr/share/apt-ostree-vmtest/image says v2) and one more metadata key,
 *   committed on top with `compose commit --force-nocache`: what the guest's `upgrade` finds on the host. Reusing the
 *   postprocessed tree of v1 costs a commit instead of a second mmdebstrap run.
 *
 * Built once per input hash (the treefiles and their files, the bundles, the .deb or data/, the host's ostree) into
 * <cache>/vm-<hash>/ and reused, with the real-Debian suite's helpers (tests/debian/base.ts): <cache> is that
 * suite's (/var/tmp/apt-ostree-debian, or APT_OSTREE_DEBIAN_CACHE), whose debs/ the compose shares.
 * APT_OSTREE_VM_REFRESH=1 rebuilds.
 */
import { copyFile, readdir, rename, stat, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../../src/lib/exec.js';
import { removeTree } from '../../support/build-once.js';
import { hashInputs } from '../../debian/cache.js';
import { cachedTestImage, CLI, ComposeFailed, composeTestImage, debianCacheRoot, hostOstreeVersion } from '../../debian/base.js';

export interface ImageCommit {
  commit: string;
  version: string;
}

export interface VmImage {
  /** Archive repository: `ref` at v2, whose parent is v1; with a summary, ready to serve over HTTP. */
  repo: string;
  ref: string;
  v1: ImageCommit;
  v2: ImageCommit;
  kernelVersion: string;
  /** How apt-ostree got into the image. */
  aptOstree: 'deb' | 'files';
  /** The .deb's file name, when it came from one. */
  deb?: string;
  dir: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const VM_DIR = join(HERE, '..');
const PROJECT_ROOT = join(HERE, '../../..');
const BUILD_DEB = join(PROJECT_ROOT, 'packaging/build-deb.ts');
const IMAGE_TREEFILE = join(VM_DIR, 'image.yaml');
const FILES_TREEFILE = join(VM_DIR, 'apt-ostree-files.yaml');
/** The file that tells v1 from v2 in the tree. */
export const IMAGE_MARKER = 'usr/share/apt-ostree-vmtest/image';
/** Builds nobody has used for this long go when a new one is made (each is some 500 MB). */
const STALE_AFTER_MS = 3600 * 1000;
/** Bump it when this file changes how the image is built: the hashed inputs do not include this file. */
const RECIPE = 2;

interface ComposeJson {
  ref: string;
  commit: string;
  version: string;
  phases?: { name: string; seconds: number }[];
}

let memo: Promise<VmImage> | undefined;

export function getVmImage(log: (line: string) => void): Promise<VmImage> {
  memo ??= buildOrReuse(log);
  return memo;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** Our .deb, freshly built from dist/ (the build is reproducible: same bundles, same bytes, same hash). */
async function buildDeb(log: (line: string) => void): Promise<string> {
  log('building the .deb (packaging/build-deb.ts)');
  const out = await run([process.execPath, '--import', 'tsx', BUILD_DEB], { cwd: PROJECT_ROOT });
  const built = /^built (\S+\.deb)$/m.exec(out.stdout)?.[1];
  if (built === undefined) throw new Error(`packaging/build-deb.ts did not say which .deb it built:\n${out.stdout}`);
  return resolve(PROJECT_ROOT, built);
}

async function buildOrReuse(log: (line: string) => void): Promise<VmImage> {
  if (process.getuid?.() !== 0) throw new Error('the VM image is composed as root (mmdebstrap --mode=root)');
  const install = process.env.APT_OSTREE_VM_INSTALL ?? (await exists(BUILD_DEB) ? 'deb' : 'files');
  if (install !== 'deb' && install !== 'files') throw new Error(`APT_OSTREE_VM_INSTALL must be deb or files, not ${install}`);
  const deb = install === 'deb' ? await buildDeb(log) : undefined;

  const cacheRoot = debianCacheRoot();
  const inputs = ['tests/vm/image.yaml', 'tests/vm/files', 'tests/debian/test-image.yaml',
    'tests/debian/files', 'examples', 'dist/apt-ostree.mjs', 'dist/apt-ostreed.mjs',
    ...(deb !== undefined ? [relative(PROJECT_ROOT, deb)] : ['tests/vm/apt-ostree-files.yaml', 'data'])];
  const hash = await hashInputs({ ostreeVersion: await hostOstreeVersion(), recipe: RECIPE, install }, PROJECT_ROOT, inputs);
  const dir = join(cacheRoot, `vm-${hash}`);
  const image = await cachedTestImage<Omit<VmImage, 'repo' | 'dir'>>({
    dir, hash, refresh: process.env.APT_OSTREE_VM_REFRESH === '1', log, lockTimeoutMs: 40 * 60 * 1000,
    build: async (tmp) => {
      const built = await compose(tmp, deb, log);
      await pruneStale(cacheRoot, dir, log);
      return built;
    },
  });
  return { ...image, repo: join(dir, 'repo'), dir };
}

async function compose(tmp: string, deb: string | undefined, log: (line: string) => void): Promise<Omit<VmImage, 'repo' | 'dir'>> {
  const cacheRoot = dirname(tmp);
  const repo = join(tmp, 'repo');
  const work = join(tmp, 'work');
  await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);

  // The treefiles of this build: JSON is read as YAML, and includes take absolute paths.
  let debCopy: string | undefined;
  if (deb !== undefined) {
    debCopy = join(tmp, basename(deb));
    await copyFile(deb, debCopy);
  }
  const v1Treefile = join(tmp, 'v1.json');
  const v2Treefile = join(tmp, 'v2.json');
  await writeFile(v1Treefile, `${JSON.stringify(debCopy === undefined
    ? { include: [IMAGE_TREEFILE, FILES_TREEFILE] }
    : { include: [IMAGE_TREEFILE], 'local-debs': [debCopy] }, null, 2)}\n`);
  await writeFile(v2Treefile, `${JSON.stringify({ include: v1Treefile, metadata: { 'apt-ostree.vmtest.image': 'v2' } }, null, 2)}\n`);

  log(`apt-ostree compose tree ${relative(PROJECT_ROOT, IMAGE_TREEFILE)} with apt-ostree from ${debCopy !== undefined ? basename(debCopy) : 'dist/ and data/'}`
    + ` (several minutes; .debs cached in ${cacheRoot}/debs)`);
  let v1: ComposeJson;
  try {
    v1 = await composeTestImage({ treefile: v1Treefile, repo, cacheRoot, workDir: work, log });
  } catch (err) {
    if (!(err instanceof ComposeFailed)) throw err;
    // The build directory goes away with the failure: keep what tells why.
    const kept = join(process.env.APT_OSTREE_VM_ARTIFACTS ?? '/var/tmp/apt-ostree-vm-artifacts',
      `compose-failed-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await mkdir(kept, { recursive: true });
    await run(['cp', '-r', v1Treefile, join(work, 'install'), kept]).catch(() => undefined);
    throw new Error(`compose of the VM image failed (logs kept in ${kept}):\n${err.stderr.trim()}`, { cause: err });
  }
  log(`v1 ${v1.commit.slice(0, 12)} (${v1.version})`);

  // A new file by rename: the tree's files may be hard links shared with other files.
  const marker = join(work, 'rootfs', IMAGE_MARKER);
  await mkdir(dirname(marker), { recursive: true });
  await writeFile(`${marker}.new`, 'v2\n');
  await rename(`${marker}.new`, marker);
  const t1 = Date.now();
  const v2 = JSON.parse((await run([process.execPath, CLI, 'compose', 'commit', v2Treefile, join(work, 'rootfs'),
    '--repo', repo, '--force-nocache', '--json'])).stdout) as ComposeJson;
  log(`v2 ${v2.commit.slice(0, 12)} (${v2.version}): commit ${((Date.now() - t1) / 1000).toFixed(0)}s`);
  await removeTree(work);

  await run(['ostree', 'summary', '-u', `--repo=${repo}`]);
  const kernel = (await run(['ostree', 'show', `--repo=${repo}`, '--print-metadata-key=ostree.linux', v1.commit])).stdout.trim().replace(/^'|'$/g, '');
  return {
    ref: v1.ref, v1: { commit: v1.commit, version: v1.version }, v2: { commit: v2.commit, version: v2.version },
    kernelVersion: kernel, aptOstree: debCopy !== undefined ? 'deb' : 'files',
    ...(debCopy !== undefined ? { deb: basename(debCopy) } : {}),
  };
}

async function pruneStale(cacheRoot: string, keep: string, log: (line: string) => void): Promise<void> {
  for (const name of await readdir(cacheRoot)) {
    const dir = join(cacheRoot, name);
    if (dir === keep || !/^vm-[0-9a-f]{16}$/.test(name)) continue;
    const st = await stat(join(dir, 'manifest.json')).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs < STALE_AFTER_MS) continue;
    log(`removing unused VM image ${dir}`);
    await removeTree(dir);
  }
}
