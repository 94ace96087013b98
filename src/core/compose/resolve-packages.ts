/**
 * The package set a treefile resolves to right now, without building anything: apt (private configuration, empty
 * dpkg status, the treefile's repositories and exclusions) simulates installing what mmdebstrap's variant selects
 * plus the treefile's packages and local .debs. Its answer feeds the input hash, so an unchanged treefile against
 * an unchanged archive is recognised in seconds instead of after a full build; and a missing package or an
 * unreachable repository is reported before mmdebstrap starts.
 *
 * The simulation need not pick exactly what mmdebstrap will install: it only has to change whenever the archive
 * changes something the image would get, which it does since both resolve the same names against the same indexes
 * (the local .debs' repository included: local-debs.ts). A local .deb's content counts in the input hash by itself.
 *
 * `aptDir` is usually shared by every compose with the same cache directory; one resolution at a time uses it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { createAptEnvironment } from '../apt/apt-env.js';
import { aptFailure, unreadableRepository, type AptErrorContext } from './apt-errors.js';
import { excludePreferences } from './bootstrap.js';
import { withFileLock } from './cache-lock.js';
import { localDebsPreferences, localDebsRequests, localDebsSourceLine, writeLocalDebsRepo } from './local-debs.js';
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
  /** Said when another compose is resolving with the same aptDir and this one waits for it. */
  onWait?: (() => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** `name=version` of every package the simulation installs, sorted. */
export async function resolvePackageSet(opts: ResolveOptions): Promise<string[]> {
  await mkdir(opts.aptDir, { recursive: true });
  return withFileLock(join(opts.aptDir, 'compose.lock'), () => resolveLocked(opts), { signal: opts.signal, onWait: opts.onWait });
}

async function resolveLocked(opts: ResolveOptions): Promise<string[]> {
  const tf = opts.loaded.treefile;
  const ctx: AptErrorContext = { loaded: opts.loaded, repos: opts.repos };
  const local = await writeLocalDebsRepo(opts.loaded, join(opts.aptDir, 'local-debs'), opts.signal);
  const etcApt = join(opts.aptDir, 'etc');
  await mkdir(join(etcApt, 'preferences.d'), { recursive: true });
  const sources = [...(local === undefined ? [] : [localDebsSourceLine(local, 'file')]), ...sourceLines(opts.repos)];
  await writeFile(join(etcApt, 'sources.list'), `${sources.join('\n')}\n`);
  await writeFile(join(etcApt, 'preferences.d', 'exclude'), excludePreferences(tf['exclude-packages']));
  await writeFile(join(etcApt, 'preferences.d', 'local-debs'), localDebsPreferences(local));
  const status = join(opts.aptDir, 'empty-status');
  await writeFile(status, '');
  const apt = await createAptEnvironment({
    etcAptDir: etcApt, statusFile: status, extendedStatesFile: join(opts.aptDir, 'no-extended-states'),
    cacheDir: join(opts.aptDir, 'cache'), arch: opts.architecture, foreignArchitectures: [], installRecommends: tf.recommends,
  });
  const update = await apt.aptGet(['update', '-q'], { signal: opts.signal, okCodes: [0, 100] });
  const updateLines = `${update.stdout}\n${update.stderr}`.split('\n');
  const failed = updateLines.find((l) => /^(E|W): (Failed to fetch|.*does not have a Release file|.*is not signed)/.test(l) || /^Err:/.test(l));
  if (update.code !== 0 || failed !== undefined) {
    throw aptFailure(ctx, updateLines) ?? unreadableRepository(ctx, failed ?? update.stderr.trim().split('\n').at(-1) ?? '');
  }

  const wanted = [...VARIANT_SELECTIONS[tf.variant], ...tf.packages, ...localDebsRequests(local, opts.architecture)];
  if (wanted.length === 0) return [];
  const sim = await apt.aptGet(['install', '-s', '-q', '--no-install-recommends', ...(tf.recommends ? ['--install-recommends'] : []), ...wanted],
    { signal: opts.signal, okCodes: [0, 100] });
  if (sim.code !== 0) {
    const text = `${sim.stdout}\n${sim.stderr}`;
    throw aptFailure(ctx, text.split('\n')) ?? unsatisfiable(text);
  }
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

function unsatisfiable(text: string): AptOstreeError {
  const broken = text.split('\n').filter((l) => /^ \S+ : (Pre)?Depends|^E: /.test(l)).map((l) => l.trim()).slice(0, 3).join('; ');
  return new AptOstreeError('unsatisfiable', `the treefile's packages can not be installed together: ${broken.slice(0, 400)}`,
    'look at the named dependencies; exclude-packages may forbid one that is needed');
}
