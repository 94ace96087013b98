/**
 * Builds a complete kit into an empty directory: the .debs and their apt repository, a plain root per base
 * version, the base image contract applied to each, the commits and the archive mirror, and a manifest (kit.json)
 * describing it all with paths relative to the directory (it is renamed into the cache afterwards).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyBaseImageContract } from '../../src/core/compose/contract.js';
import { writeAptIndexes, APT_POOL } from './apt-repo.js';
import { buildDeb, type BuiltDeb } from './deb.js';
import { readHostInfo } from './host-info.js';
import { KERNEL_VERSION } from './base-packages.js';
import { KIT_DIRS, KIT_REFS, KIT_VERSIONS, type KitBase } from './layout.js';
import { commitTree, initRepo, mirrorToArchive } from './ostree-repos.js';
import { kitPackageSpecs } from './package-sets.js';
import { deriveRootfs, installRootfs } from './rootfs.js';

export interface KitManifestDeb {
  name: string;
  version: string;
  architecture: string;
  /** Relative to the kit directory. */
  file: string;
}

export interface KitManifest {
  hash: string;
  arch: string;
  kernelVersion: string;
  commits: Record<KitBase, string>;
  basePackages: Record<KitBase, Record<string, string>>;
  debs: KitManifestDeb[];
  buildSeconds: number;
}

const BASE_REFS: Record<KitBase, string> = { v1: KIT_REFS.main, v2: KIT_REFS.main, alt: KIT_REFS.alt };
/** Commit order matters: v2's parent is v1 because it is committed on the same branch after it. */
const BASE_ORDER: readonly KitBase[] = ['v1', 'v2', 'alt'];

/** Receives one line per finished build step with its duration. */
export type BuildLog = (line: string) => void;

export async function buildKit(dir: string, hash: string, log: BuildLog = () => undefined): Promise<KitManifest> {
  const started = performance.now();
  let stepStarted = started;
  const step = (name: string): void => {
    const now = performance.now();
    log(`kit: ${name} ${((now - stepStarted) / 1000).toFixed(2)}s`);
    stepStarted = now;
  };
  const host = await readHostInfo();
  const specs = await kitPackageSpecs(host);
  const aptDir = join(dir, KIT_DIRS.aptRepo);
  const work = join(dir, 'work');
  await mkdir(work, { recursive: true });

  const built = await mapLimit(specs.all, 4, (spec) => buildDeb(spec, join(work, 'debs'), join(aptDir, APT_POOL), host.arch));
  await writeAptIndexes(aptDir, host.arch);
  step(`${built.length} .debs and the apt repository`);

  const bareRepo = join(dir, KIT_DIRS.bareRepo);
  const archiveRepo = join(dir, KIT_DIRS.archiveRepo);
  await initRepo(bareRepo, 'bare');
  await initRepo(archiveRepo, 'archive');

  // v1 is installed from scratch; v2 and alt are changed copies of it, as an upgraded system would be.
  const roots = BASE_ORDER.map((base) => join(work, `rootfs-${base}`));
  const [v1Root = ''] = roots;
  await installRootfs(v1Root, specs.bases.v1.map((p) => debOf(built, p.name, p.version).path));
  await Promise.all(BASE_ORDER.map(async (base, i) => {
    const root = roots[i] ?? '';
    if (base !== 'v1') await deriveRootfs(v1Root, root, packageChange(specs.bases.v1, specs.bases[base], built));
  }));
  step('base roots installed');
  await Promise.all(roots.map((root) => applyBaseImageContract(root)));
  step('base image contract applied');
  const commits: Partial<Record<KitBase, string>> = {};
  for (const [i, base] of BASE_ORDER.entries()) {
    const version = KIT_VERSIONS[base];
    commits[base] = await commitTree({
      repo: bareRepo, tree: roots[i] ?? '', ref: BASE_REFS[base], version,
      subject: `apt-ostree test kit ${version} (${BASE_REFS[base]})`,
    });
  }
  step('commits');
  await mirrorToArchive(bareRepo, archiveRepo, [KIT_REFS.main, KIT_REFS.alt]);
  await rm(work, { recursive: true, force: true });
  step('archive mirror');

  const manifest: KitManifest = {
    hash,
    arch: host.arch,
    kernelVersion: KERNEL_VERSION,
    commits: { v1: commits.v1 ?? '', v2: commits.v2 ?? '', alt: commits.alt ?? '' },
    basePackages: {
      v1: Object.fromEntries(specs.bases.v1.map((p) => [p.name, p.version])),
      v2: Object.fromEntries(specs.bases.v2.map((p) => [p.name, p.version])),
      alt: Object.fromEntries(specs.bases.alt.map((p) => [p.name, p.version])),
    },
    debs: built.map((d) => ({
      name: d.name, version: d.version, architecture: d.architecture, file: d.path.slice(dir.length + 1),
    })),
    buildSeconds: Math.round(performance.now() - started) / 1000,
  };
  await writeFile(join(dir, KIT_DIRS.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

type PackageId = { name: string; version: string };

/** What turns one package set into another: purge the names that go, install what is new or of another version. */
function packageChange(from: readonly PackageId[], to: readonly PackageId[], built: readonly BuiltDeb[]): {
  purge: string[];
  install: string[];
} {
  return {
    purge: from.filter((p) => !to.some((q) => q.name === p.name)).map((p) => p.name),
    install: to.filter((p) => !from.some((q) => q.name === p.name && q.version === p.version))
      .map((p) => debOf(built, p.name, p.version).path),
  };
}

function debOf(built: readonly BuiltDeb[], name: string, version: string): BuiltDeb {
  const deb = built.find((d) => d.name === name && d.version === version);
  if (!deb) throw new Error(`kit: no .deb built for ${name} ${version}`);
  return deb;
}

/** Like Promise.all(items.map(fn)) with at most `limit` running at once. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
