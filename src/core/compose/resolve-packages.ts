/**
 * The package set a treefile resolves to right now, without building anything: apt (private configuration, empty
 * dpkg status, the treefile's repositories and exclusions) simulates installing what mmdebstrap's variant selects
 * plus the treefile's packages and local .debs. Its answer feeds the input hash, so an unchanged treefile against
 * an unchanged archive is recognised in seconds instead of after a full build; and a missing package or an
 * unreachable repository is reported before mmdebstrap starts.
 *
 * The simulation need not pick exactly what mmdebstrap will install: it only has to change whenever the archive
 * changes something the image would get, which it does since both resolve the same names against the same indexes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { createAptEnvironment } from '../apt/apt-env.js';
import { excludePreferences } from './bootstrap.js';
import type { ResolvedRepo } from './repos.js';
import type { LoadedTreefile, Variant } from './treefile/index.js';

/** apt patterns for what each mmdebstrap variant installs besides --include (mmdebstrap(1)). */
const VARIANT_SELECTIONS: Record<Variant, readonly string[]> = {
  extract: [],
  custom: [],
  essential: ['?essential'],
  apt: ['?essential', 'apt'],
  required: ['?essential', 'apt', '?priority(required)'],
  minbase: ['?essential', 'apt', '?priority(required)'],
  buildd: ['?essential', 'apt', '?priority(required)', 'build-essential'],
  important: ['?essential', 'apt', '?priority(required)', '?priority(important)'],
  debootstrap: ['?essential', 'apt', '?priority(required)', '?priority(important)'],
  standard: ['?essential', 'apt', '?priority(required)', '?priority(important)', '?priority(standard)'],
};

export interface ResolveOptions {
  loaded: LoadedTreefile;
  repos: readonly ResolvedRepo[];
  architecture: string;
  /** Where apt keeps its lists between runs (a compose's --cachedir), or a scratch directory. */
  aptDir: string;
  signal?: AbortSignal | undefined;
}

/** `name=version` of every package the simulation installs, sorted. */
export async function resolvePackageSet(opts: ResolveOptions): Promise<string[]> {
  const tf = opts.loaded.treefile;
  const etcApt = join(opts.aptDir, 'etc');
  await mkdir(join(etcApt, 'preferences.d'), { recursive: true });
  await writeFile(join(etcApt, 'sources.list'), `${sourceLines(opts.repos).join('\n')}\n`);
  await writeFile(join(etcApt, 'preferences.d', 'exclude'), excludePreferences(tf['exclude-packages']));
  const status = join(opts.aptDir, 'empty-status');
  await writeFile(status, '');
  const apt = await createAptEnvironment({
    etcAptDir: etcApt, statusFile: status, extendedStatesFile: join(opts.aptDir, 'no-extended-states'),
    cacheDir: join(opts.aptDir, 'cache'), arch: opts.architecture, foreignArchitectures: [], installRecommends: tf.recommends,
  });
  const update = await apt.aptGet(['update', '-q'], { signal: opts.signal, okCodes: [0, 100] });
  const failed = `${update.stdout}\n${update.stderr}`.split('\n').find((l) => /^(E|W): (Failed to fetch|.*does not have a Release file|.*is not signed)/.test(l)
    || /^Err:/.test(l));
  if (update.code !== 0 || failed !== undefined) throw unreachable(opts, failed ?? update.stderr.trim().split('\n').at(-1) ?? '');

  const wanted = [...VARIANT_SELECTIONS[tf.variant], ...tf.packages, ...tf['local-debs']];
  if (wanted.length === 0) return [];
  const sim = await apt.aptGet(['install', '-s', '-q', '--no-install-recommends', ...(tf.recommends ? ['--install-recommends'] : []), ...wanted],
    { signal: opts.signal, okCodes: [0, 100] });
  if (sim.code !== 0) throw unresolvable(opts, `${sim.stdout}\n${sim.stderr}`);
  const out: string[] = [];
  for (const line of sim.stdout.split('\n')) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.push(`${m[1]}=${m[2]}`);
  }
  return out.sort();
}

/** The host's apt reads file:// directly (only mmdebstrap needs copy://). */
function sourceLines(repos: readonly ResolvedRepo[]): string[] {
  return repos.flatMap((r) => {
    const opts = r.trusted ? ['trusted=yes'] : r.keyring !== undefined ? [`signed-by=${r.keyring}`] : [];
    return r.suites.map((suite) => `deb ${opts.length > 0 ? `[${opts.join(' ')}] ` : ''}${r.uri} ${suite} ${r.components.join(' ')}`);
  });
}

function position(opts: ResolveOptions, path: readonly (string | number)[]): string {
  const w = opts.loaded.where(path);
  return w === undefined ? '' : `${w}: `;
}

function unreachable(opts: ResolveOptions, line: string): AptOstreeError {
  const hostOf = (uri: string): string => uri.replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, '').split('/')[0] ?? uri;
  const repo = opts.repos.find((r) => line.includes(r.uri) || (!r.uri.startsWith('file:') && line.includes(hostOf(r.uri))))
    ?? (opts.repos.length === 1 ? opts.repos[0] : undefined);
  if (/NO_PUBKEY|is not signed|signatures were invalid|EXPKEYSIG/.test(line)) {
    return new AptOstreeError('signature-invalid', `${repo === undefined ? '' : position(opts, ['repos', repo.origin, 'uri'])}apt can not verify a repository: ${line.replace(/^[EW]: /, '').trim().slice(0, 300)}`,
      'set signed-by to the repository\'s keyring (or trusted: true for a local test repository)');
  }
  return new AptOstreeError('repository-unreachable',
    `${repo === undefined ? '' : position(opts, ['repos', repo.origin, 'uri'])}a repository can not be read: ${line.replace(/^(E|W|Err): ?/, '').trim().slice(0, 300)}`,
    'check the address, the suites and components, and the network');
}

function unresolvable(opts: ResolveOptions, text: string): AptOstreeError {
  const tf = opts.loaded.treefile;
  const m = /Unable to locate package (\S+)|Package '?([^\s']+?)'? has no installation candidate|Version '[^']*' for '([^']+)' was not found/.exec(text);
  const name = m?.[1] ?? m?.[2] ?? m?.[3];
  if (name !== undefined) {
    const i = tf.packages.findIndex((p) => p === name || p.startsWith(`${name}=`));
    return new AptOstreeError('unknown-package', `${position(opts, ['packages', i < 0 ? 0 : i])}package ${name} is not in the treefile's repositories`,
      'check the name and version (`apt-cache policy NAME` against the same repositories), the release and components');
  }
  const broken = text.split('\n').filter((l) => /^ \S+ : (Pre)?Depends|^E: /.test(l)).map((l) => l.trim()).slice(0, 3).join('; ');
  return new AptOstreeError('unsatisfiable', `the treefile's packages can not be installed together: ${broken.slice(0, 400)}`,
    'look at the named dependencies; exclude-packages may forbid one that is needed');
}
