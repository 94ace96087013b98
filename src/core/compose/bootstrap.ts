/**
 * `compose install`: the plain Debian root of a treefile, built by mmdebstrap from the treefile's repositories and
 * its local .debs (a repository of their own, see local-debs.ts). .debs are kept in `<cachedir>/debs` between runs
 * (hardlinked in before apt downloads and out after the install, see deb-cache.ts), so a rebuild only fetches what
 * changed in the archive.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { runUnchecked } from '../../lib/exec.js';
import { aptFailure } from './apt-errors.js';
import { addToDebCache, takeFromDebCache } from './deb-cache.js';
import { isLocalDebArchive, localDebsPreferences, localDebsRequests, localDebsSourceLine, writeLocalDebsRepo } from './local-debs.js';
import { lstatOrNull } from './tree-fs.js';
import { imageSourcesText, mmdebstrapSourceLines, type ResolvedRepo } from './repos.js';
import type { LoadedTreefile, Treefile } from './treefile/index.js';

export interface BootstrapOptions {
  loaded: LoadedTreefile;
  repos: readonly ResolvedRepo[];
  architecture: string;
  /** The root to create; must not exist yet. */
  root: string;
  /** Scratch space for hook inputs and logs. */
  workDir: string;
  cacheDir?: string | undefined;
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface BootstrapReport {
  seconds: number;
  /** .debs found in the cache before the build, and kept in it after. */
  cachedBefore: number;
  cachedAfter: number;
}

/** Written into the image while it is built, so dpkg itself drops them (and any later layered package's too). */
export const NO_DOCUMENTATION_DPKG_CFG = [
  '# apt-ostree compose (documentation: false): no manuals, translations or documentation but the copyright files',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/info/*',
  '',
].join('\n');
const DPKG_CFG_PATH = 'etc/dpkg/dpkg.cfg.d/90-apt-ostree-no-documentation';
/** Excluded packages pinned away, local .debs pinned in: for the build only (the file is removed afterwards). */
const EXCLUDE_PREFERENCES_PATH = 'etc/apt/preferences.d/90-apt-ostree-compose-exclude';
const EATMYDATA_HOOKS = '/usr/share/mmdebstrap/hooks/eatmydata';

/**
 * dpkg without fsync while building (~15 s less on a real image); the hooks fetch eatmydata from the treefile's
 * repositories and remove every trace of it afterwards, so only when the Debian archive is one of them.
 */
async function canUseEatmydata(tf: Treefile): Promise<boolean> {
  return tf['bootstrap-mode'] === 'root' && tf.repos.some((r) => r.uri === 'default') && (await lstatOrNull(EATMYDATA_HOOKS)) !== null;
}

export function excludePreferences(packages: readonly string[]): string {
  return packages.map((p) => `Package: ${p}\nPin: release *\nPin-Priority: -1\n`).join('\n');
}

/**
 * mmdebstrap's command line. `sources` are its one-line sources (the local .debs' repository among them when there
 * is one), `localDebs` the package names of those .debs (localDebsRequests).
 */
export function mmdebstrapArguments(tf: Treefile, opts: { sources: readonly string[]; architecture: string; root: string;
  cache: boolean; eatmydata: boolean; localDebs?: readonly string[] | undefined; }): string[] {
  const include = [...tf.packages, ...(opts.localDebs ?? [])];
  return [
    'mmdebstrap', `--mode=${tf['bootstrap-mode']}`, '--format=directory', `--variant=${tf.variant}`,
    `--architectures=${opts.architecture}`,
    ...(include.length > 0 ? [`--include=${include.join(',')}`] : []),
    '--aptopt=Acquire::Languages "none"',
    ...(tf.recommends ? ['--aptopt=APT::Install-Recommends "true"'] : []),
    ...(opts.eatmydata ? [`--hook-dir=${EATMYDATA_HOOKS}`] : []),
    // Hook scripts are fixed text: every path reaches them through the environment, never pasted into them.
    '--setup-hook=if [ -n "$APT_OSTREE_EXCLUDE" ]; then mkdir -p "$1/etc/apt/preferences.d" && '
      + `cp "$APT_OSTREE_EXCLUDE" "$1/${EXCLUDE_PREFERENCES_PATH}"; fi`,
    ...(opts.cache ? [
      '--skip=download/empty', '--skip=essential/unlink',
      '--setup-hook=mkdir -p "$1/var/cache/apt/archives" && cp -al "$APT_OSTREE_DEBS_IN/." "$1/var/cache/apt/archives/"',
      '--customize-hook=find "$1/var/cache/apt/archives" -maxdepth 1 -name "*.deb" -exec ln -t "$APT_OSTREE_DEBS_OUT" {} +',
    ] : []),
    ...(tf.documentation ? [] : [
      `--essential-hook=mkdir -p "$1/${dirname(DPKG_CFG_PATH)}" && cp "$APT_OSTREE_DPKG_CFG" "$1/${DPKG_CFG_PATH}"`,
    ]),
    tf.release, opts.root, ...opts.sources,
  ];
}

export async function bootstrapRoot(opts: BootstrapOptions): Promise<BootstrapReport> {
  const tf = opts.loaded.treefile;
  const started = Date.now();
  if (await lstatOrNull(opts.root)) throw new AptOstreeError('compose-failed', `${opts.root} already exists`, 'pass a new directory');
  await mkdir(opts.workDir, { recursive: true });
  const dpkgCfg = join(opts.workDir, 'dpkg-no-documentation.cfg');
  await writeFile(dpkgCfg, NO_DOCUMENTATION_DPKG_CFG);
  const local = await writeLocalDebsRepo(opts.loaded, join(opts.workDir, 'local-debs'), opts.signal);
  const preferencesText = [excludePreferences(tf['exclude-packages']), localDebsPreferences(local)].filter((t) => t !== '').join('\n');
  const preferences = join(opts.workDir, 'build-preferences');
  await writeFile(preferences, preferencesText);

  // Local .debs stay out of the shared cache: another compose's file of the same name may be another build.
  const isLocal = (name: string): boolean => isLocalDebArchive(local, name);
  const cache = opts.cacheDir === undefined ? undefined : join(opts.cacheDir, 'debs');
  const debsIn = join(opts.workDir, 'debs-in');
  const debsOut = join(opts.workDir, 'debs-out');
  let cachedBefore = 0;
  if (cache !== undefined) {
    cachedBefore = await takeFromDebCache(cache, debsIn, isLocal);
    await rm(debsOut, { recursive: true, force: true });
    await mkdir(debsOut);
  }
  const argv = mmdebstrapArguments(tf, {
    sources: [...(local === undefined ? [] : [localDebsSourceLine(local, 'copy')]), ...mmdebstrapSourceLines(opts.repos)],
    architecture: opts.architecture, root: opts.root, cache: cache !== undefined, eatmydata: await canUseEatmydata(tf),
    localDebs: localDebsRequests(local, opts.architecture),
  });
  const lines: string[] = [];
  const onLine = (line: string): void => {
    lines.push(line);
    if (/^(I|W|E): /.test(line) && !/hook in shell|hook directly|unsandboxed as root|chrootless mode as root/.test(line)) opts.onLine?.(line);
  };
  const result = await runUnchecked(argv, {
    env: {
      ...process.env, LC_ALL: 'C.UTF-8',
      APT_OSTREE_DEBS_IN: debsIn, APT_OSTREE_DEBS_OUT: debsOut, APT_OSTREE_DPKG_CFG: dpkgCfg,
      APT_OSTREE_EXCLUDE: preferencesText !== '' ? preferences : '',
      // Debian's kernel hook would build an initramfs twice (kernel postinst and dracut's trigger); compose builds
      // it once, with the treefile's arguments, after everything is installed.
      ...(tf.initramfs === 'dracut' ? { INITRD: 'No' } : {}),
    },
    onStdoutLine: onLine, onStderrLine: onLine, signal: opts.signal,
  });
  await writeFile(join(opts.workDir, 'mmdebstrap.log'), `${argv.join(' ')}\n\n${lines.join('\n')}\n`);
  if (result.code !== 0) {
    await rm(opts.root, { recursive: true, force: true });
    for (const dir of [debsIn, debsOut]) await rm(dir, { recursive: true, force: true });
    throw bootstrapError(opts, lines, join(opts.workDir, 'mmdebstrap.log'));
  }

  let cachedAfter = cachedBefore;
  if (cache !== undefined) {
    cachedAfter = await addToDebCache(cache, debsOut, isLocal);
    await rm(debsIn, { recursive: true, force: true });
    await rm(debsOut, { recursive: true, force: true });
  }
  await finishRoot(opts.root, opts.repos);
  return { seconds: (Date.now() - started) / 1000, cachedBefore, cachedAfter };
}

/** What mmdebstrap leaves that an image must not carry, and the image's own apt sources. */
async function finishRoot(root: string, repos: readonly ResolvedRepo[]): Promise<void> {
  // Copied from the build host by mmdebstrap.
  await rm(join(root, 'etc/hostname'), { force: true });
  await rm(join(root, 'etc/resolv.conf'), { force: true });
  await rm(join(root, EXCLUDE_PREFERENCES_PATH), { force: true });
  // mmdebstrap's sources.list names the build host's view (copy://, host keyring paths); the image gets deb822 files.
  await rm(join(root, 'etc/apt/sources.list'), { force: true });
  await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
  for (const repo of repos) {
    await writeFile(join(root, 'etc/apt/sources.list.d', `${repo.name}.sources`), imageSourcesText(repo));
    if (repo.keyring !== undefined && repo.imageKeyring?.startsWith('/etc/apt/keyrings/') === true) {
      await mkdir(join(root, 'etc/apt/keyrings'), { recursive: true });
      await copyFile(repo.keyring, join(root, repo.imageKeyring));
    }
  }
}

/** apt's failures as the resolution reports them (it runs first, except for `compose install` alone), or compose-failed. */
function bootstrapError(opts: BootstrapOptions, lines: readonly string[], log: string): AptOstreeError {
  const mapped = aptFailure({ loaded: opts.loaded, repos: opts.repos, log }, lines);
  if (mapped !== undefined) return mapped;
  const errors = lines.filter((l) => l.startsWith('E: ')).map((l) => l.slice(3)).filter((l) => !/mmdebstrap failed|run_.* failed/.test(l));
  return new AptOstreeError('compose-failed', `mmdebstrap failed: ${(errors[0] ?? lines.at(-1) ?? '').slice(0, 300)}`,
    `the full log is ${log}`);
}
