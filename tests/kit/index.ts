/**
 * The apt-ostree test kit: real .debs, a real apt repository and real OSTree commits of a tiny Debian, built from
 * nothing in seconds with dpkg-deb, apt-ftparchive and ostree, cached between test runs.
 *
 *   const kit = await getKit();
 *   const server = await serveDirectory(kit.dir);            // ./http.ts
 *   const sysroot = await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive` });   // ./sysroot.ts
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildKit, type KitManifest } from './build.js';
import { ensureBuilt, kitDirectory, kitSourceHash, pruneUnusedKits, touchKit } from './cache.js';
import {
  aptSourcesLine,
  KIT_APT_COMPONENT,
  KIT_APT_SUITE,
  KIT_DIRS,
  KIT_OSNAME,
  KIT_REFS,
  KIT_REMOTE,
  KIT_VERSIONS,
  type KitBase,
} from './layout.js';

export { KIT_REFS, KIT_VERSIONS, KIT_REMOTE, KIT_OSNAME, type KitBase } from './layout.js';

export interface KitDeb {
  name: string;
  version: string;
  architecture: string;
  path: string;
}

export interface Kit {
  /** The kit's directory; serve it over HTTP to reach both repositories. */
  dir: string;
  /** Cache key: hash of the kit's sources and of the host programs it copies. */
  hash: string;
  /** dpkg architecture of the host (and of the kit's native packages). */
  arch: string;
  /** Bare OSTree repository the commits were made in. Do not deploy from it: tests must not share its inodes. */
  bareRepo: string;
  /** Archive-mode mirror with a summary: what a server publishes. Relative path under `dir`: `ostree-archive`. */
  archiveRepo: string;
  /** Root of the apt repository (dists/, pool/). Relative path under `dir`: `apt`. */
  aptRepoDir: string;
  aptSuite: string;
  aptComponent: string;
  /** `deb [trusted=yes] <url> kit main`, for the apt repository served at `url`. */
  aptSourcesLine: (url: string) => string;
  remoteName: typeof KIT_REMOTE;
  osname: typeof KIT_OSNAME;
  refs: typeof KIT_REFS;
  /** v1 and v2 are on refs.main (v2's parent is v1); alt is on refs.alt. */
  commits: Readonly<Record<KitBase, string>>;
  /** The `version` metadata of each commit. */
  versions: typeof KIT_VERSIONS;
  /** name → version of the packages in each base commit. */
  basePackages: Readonly<Record<KitBase, Readonly<Record<string, string>>>>;
  /** Path of each package's .deb by name; the newest version when there are several (kit-libfoo1). */
  debs: Readonly<Record<string, string>>;
  /** Every .deb built, all versions. */
  allDebs: readonly KitDeb[];
  kernelVersion: string;
  /** Seconds the kit took to build (when it was built, not when reused). */
  buildSeconds: number;
}

let pending: Promise<Kit> | undefined;

/** Builds the kit, or reuses the cached one; concurrent calls in one process share the work. */
export function getKit(): Promise<Kit> {
  pending ??= loadOrBuildKit();
  return pending;
}

async function loadOrBuildKit(): Promise<Kit> {
  const hash = await kitSourceHash();
  const dir = kitDirectory(hash);
  await ensureBuilt(
    dir,
    async (candidate) => (await readManifest(candidate))?.hash === hash,
    async (tmp) => {
      process.stderr.write(`kit: building ${dir} (cached for later runs)\n`);
      const verbose = process.env.APT_OSTREE_KIT_VERBOSE === '1';
      await buildKit(tmp, hash, verbose ? (line) => { process.stderr.write(`${line}\n`); } : undefined);
      await pruneUnusedKits(dir, KIT_DIRS.manifest);
    },
  );
  const manifest = await readManifest(dir);
  if (!manifest) throw new Error(`kit: ${dir} has no manifest after building`);
  await touchKit(join(dir, KIT_DIRS.manifest));
  return kitFromManifest(dir, manifest);
}

async function readManifest(dir: string): Promise<KitManifest | null> {
  try {
    return JSON.parse(await readFile(join(dir, KIT_DIRS.manifest), 'utf8')) as KitManifest;
  } catch {
    return null;
  }
}

function kitFromManifest(dir: string, manifest: KitManifest): Kit {
  const allDebs = manifest.debs.map((d) => ({
    name: d.name, version: d.version, architecture: d.architecture, path: join(dir, d.file),
  }));
  const debs: Record<string, string> = {};
  // The manifest lists versions in ascending order per package (specs list older versions first).
  for (const deb of allDebs) debs[deb.name] = deb.path;
  return {
    dir,
    hash: manifest.hash,
    arch: manifest.arch,
    bareRepo: join(dir, KIT_DIRS.bareRepo),
    archiveRepo: join(dir, KIT_DIRS.archiveRepo),
    aptRepoDir: join(dir, KIT_DIRS.aptRepo),
    aptSuite: KIT_APT_SUITE,
    aptComponent: KIT_APT_COMPONENT,
    aptSourcesLine,
    remoteName: KIT_REMOTE,
    osname: KIT_OSNAME,
    refs: KIT_REFS,
    commits: manifest.commits,
    versions: KIT_VERSIONS,
    basePackages: manifest.basePackages,
    debs,
    allDebs,
    kernelVersion: manifest.kernelVersion,
    buildSeconds: manifest.buildSeconds,
  };
}
