/**
 * `compose install`: the plain Debian root of a treefile, built by mmdebstrap from the treefile's repositories.
 * .debs are kept in `<cachedir>/debs` between runs (hardlinked in before apt downloads and out after the install),
 * so a rebuild only fetches what changed in the archive.
 */
import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { runUnchecked } from '../../lib/exec.js';
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
/** Excluded packages are pinned away for the build only (the file is removed afterwards). */
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

export function mmdebstrapArguments(tf: Treefile, opts: { sources: readonly string[]; architecture: string; root: string;
  cache: boolean; eatmydata: boolean; }): string[] {
  const include = tf.packages;
  return [
    'mmdebstrap', `--mode=${tf['bootstrap-mode']}`, '--format=directory', `--variant=${tf.variant}`,
    `--architectures=${opts.architecture}`,
    ...(include.length > 0 ? [`--include=${include.join(',')}`] : []),
    // One option per file: mmdebstrap would split a path list on commas and blanks.
    ...tf['local-debs'].map((deb) => `--include=${deb}`),
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
  const exclude = join(opts.workDir, 'exclude-preferences');
  await writeFile(exclude, excludePreferences(tf['exclude-packages']));

  const debs = opts.cacheDir === undefined ? undefined : join(opts.cacheDir, 'debs');
  const debsOut = join(opts.workDir, 'debs-out');
  if (debs !== undefined) {
    await mkdir(debs, { recursive: true });
    await rm(debsOut, { recursive: true, force: true });
    await mkdir(debsOut);
  }
  const cachedBefore = debs === undefined ? 0 : (await readdir(debs)).filter((n) => n.endsWith('.deb')).length;
  const argv = mmdebstrapArguments(tf, {
    sources: mmdebstrapSourceLines(opts.repos), architecture: opts.architecture, root: opts.root,
    cache: debs !== undefined, eatmydata: await canUseEatmydata(tf),
  });
  const lines: string[] = [];
  const onLine = (line: string): void => {
    lines.push(line);
    if (/^(I|W|E): /.test(line) && !/hook in shell|hook directly|unsandboxed as root|chrootless mode as root/.test(line)) opts.onLine?.(line);
  };
  const result = await runUnchecked(argv, {
    env: {
      ...process.env, LC_ALL: 'C.UTF-8',
      APT_OSTREE_DEBS_IN: debs ?? '', APT_OSTREE_DEBS_OUT: debsOut, APT_OSTREE_DPKG_CFG: dpkgCfg,
      APT_OSTREE_EXCLUDE: tf['exclude-packages'].length > 0 ? exclude : '',
      // Debian's kernel hook would build an initramfs twice (kernel postinst and dracut's trigger); compose builds
      // it once, with the treefile's arguments, after everything is installed.
      ...(tf.initramfs === 'dracut' ? { INITRD: 'No' } : {}),
    },
    onStdoutLine: onLine, onStderrLine: onLine, signal: opts.signal,
  });
  await writeFile(join(opts.workDir, 'mmdebstrap.log'), `${argv.join(' ')}\n\n${lines.join('\n')}\n`);
  if (result.code !== 0) {
    await rm(opts.root, { recursive: true, force: true });
    throw bootstrapError(opts, lines, join(opts.workDir, 'mmdebstrap.log'));
  }

  let cachedAfter = cachedBefore;
  if (debs !== undefined) {
    // The cache now holds exactly this build's packages: older versions drop out.
    cachedAfter = (await readdir(debsOut)).length;
    await rm(`${debs}.old`, { recursive: true, force: true });
    await rename(debs, `${debs}.old`);
    await rename(debsOut, debs);
    await rm(`${debs}.old`, { recursive: true, force: true });
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

function bootstrapError(opts: BootstrapOptions, lines: readonly string[], log: string): AptOstreeError {
  const text = lines.join('\n');
  const where = (path: readonly (string | number)[]): string => {
    const w = opts.loaded.where(path);
    return w === undefined ? '' : `${w}: `;
  };
  const missingLine = lines.find((l) => /Unable to locate package |has no installation candidate/.test(l)) ?? '';
  const missing = /Unable to locate package ([^\s']+)|Package '?([^\s']+?)'? has no installation candidate/.exec(missingLine);
  const name = missing?.[1] ?? missing?.[2];
  if (name !== undefined) {
    const i = opts.loaded.treefile.packages.findIndex((p) => p === name || p.startsWith(`${name}=`));
    return new AptOstreeError('unknown-package', `${where(['packages', i < 0 ? 0 : i])}package ${name} is not in the treefile's repositories`,
      'check the name (`apt-cache policy NAME` against the same repositories) and the release and components');
  }
  const fetch = lines.find((l) => /Failed to fetch|Could not resolve|Could not connect|Unable to connect|Connection refused|does not have a Release file|404\s+Not Found/i.test(l));
  if (fetch !== undefined) {
    const hostOf = (uri: string): string => uri.replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, '').split('/')[0] ?? uri;
    const repo = opts.repos.find((r) => fetch.includes(r.uri) || (!r.uri.startsWith('file:') && fetch.includes(hostOf(r.uri))))
      ?? (opts.repos.length === 1 ? opts.repos[0] : undefined);
    const position = repo === undefined ? '' : where(['repos', repo.origin, 'uri']);
    return new AptOstreeError('repository-unreachable',
      `${position}a repository can not be read: ${fetch.replace(/^[EW]: /, '').trim().slice(0, 300)}`,
      `check the address and the network; mmdebstrap's log: ${log}`);
  }
  if (/NO_PUBKEY|EXPKEYSIG|is not signed|signatures were invalid|Signed-By/.test(text)) {
    return new AptOstreeError('signature-invalid', 'apt can not verify a repository of the treefile',
      `set signed-by to the repository's keyring (or trusted: true for a local test repository); log: ${log}`);
  }
  const errors = lines.filter((l) => l.startsWith('E: ')).map((l) => l.slice(3)).filter((l) => !/mmdebstrap failed|run_.* failed/.test(l));
  return new AptOstreeError('compose-failed', `mmdebstrap failed: ${(errors[0] ?? lines.at(-1) ?? '').slice(0, 300)}`,
    `the full log is ${log}`);
}
