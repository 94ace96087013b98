/**
 * Shared pieces of the benchmarks: argument parsing, timing, medians, the CLI runner, the cache copies that make a
 * run "warm", and the result lines bench/run turns into one table. Benchmarks print ratios measured side by side in
 * one run; nothing here asserts a time.
 */
import { appendFile, cp, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runUnchecked, type ExecResult } from '../../src/lib/exec.js';

export const CLI = fileURLToPath(new URL('../../dist/apt-ostree.mjs', import.meta.url));
/** Sysroots, templates and the real-Debian v2 repository live on the disk, as on an installed system. */
export const BENCH_ROOT = process.env.APT_OSTREE_BENCH_DIR ?? '/var/tmp/apt-ostree-bench';

export interface BenchArgs {
  debian: boolean;
  /** Skip the kit (only with --debian). */
  noKit: boolean;
  /** Timed runs per side and scenario. */
  reps: number | undefined;
  /** In-process engine runs per scenario whose task begin/end are timed (0: none). */
  profile: number | undefined;
  /** Append one JSON line per scenario to this file (bench/run prints the table from it). */
  results: string | undefined;
  /** Scenarios to run (by name prefix); default all. */
  only: string[];
  verbose: boolean;
}

export function parseArgs(argv: readonly string[], usage: string): BenchArgs {
  const args: BenchArgs = { debian: false, noKit: false, reps: undefined, profile: undefined, results: undefined, only: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${usage}`);
      return v;
    };
    if (a === '--debian') args.debian = true;
    else if (a === '--no-kit') args.noKit = true;
    else if (a === '--reps') args.reps = positiveInt(value(), a);
    else if (a === '--profile') args.profile = nonNegativeInt(value(), a);
    else if (a === '--results') args.results = value();
    else if (a === '--only') args.only.push(value());
    else if (a === '-v' || a === '--verbose') args.verbose = true;
    else if (a === '-h' || a === '--help') { process.stdout.write(`${usage}\n`); process.exit(0); }
    else throw new Error(`unknown argument ${a}\n${usage}`);
  }
  if (args.noKit && !args.debian) throw new Error(`--no-kit needs --debian\n${usage}`);
  if (process.getuid?.() !== 0) throw new Error('the benchmarks run as root (ostree admin, bwrap, dpkg)');
  return args;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

function nonNegativeInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected an integer ≥ 0, got ${JSON.stringify(text)}`);
  return n;
}

export function wanted(args: BenchArgs, scenario: string): boolean {
  return args.only.length === 0 || args.only.some((o) => scenario.startsWith(o));
}

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)}s` : '-';
}

/**
 * Times fn after a `sync`: the setup before it (a new sysroot, cache copies) leaves dirty pages, and the syncs inside
 * `ostree commit` and `ostree admin deploy` would otherwise pay for writing them back.
 */
export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  await run(['sync']);
  const cpuBefore = await cpuTimeMs();
  const started = performance.now();
  const value = await fn();
  const ms = performance.now() - started;
  return { ms, cpuMs: (await cpuTimeMs()) - cpuBefore, value };
}

export interface Timed<T> {
  /** Wall time. */
  ms: number;
  /** CPU time (user + system) of this process and of every child process that ended meanwhile, all descendants. */
  cpuMs: number;
  value: T;
}

/**
 * utime + stime + cutime + cstime of this process (proc(5)): the children's part counts every descendant that was
 * waited for, so a CLI run, or the raw tools' processes, are all in it. Other work on the machine is not, which
 * makes it the steadier number on a shared machine (wall time also has I/O waits in it).
 */
async function cpuTimeMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** sysconf(_SC_CLK_TCK): 100 on Linux. */
const CLOCK_TICKS = 100;

/** Runs the bundled client as a user does, as a child process (the kit's HTTP server in this process keeps answering). */
export async function cli(sysroot: string, args: readonly string[]): Promise<ExecResult> {
  const r = await runUnchecked([process.execPath, CLI, '--sysroot', sysroot, ...args], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  if (r.code !== 0) throw new Error(`apt-ostree ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** Wall time of `node dist/apt-ostree.mjs --version`: what every CLI run pays before the engine starts. */
export async function cliStartMs(): Promise<number> {
  const started = performance.now();
  await run([process.execPath, CLI, '--version']);
  return performance.now() - started;
}

/**
 * Copies the apt lists and/or .debs of a template cache into `dest` (lists/ and archives/ below it). The copies are
 * made before the clock starts; hardlinks would do as well, but a copy keeps a run from touching the template.
 */
export async function seedAptCache(template: AptCacheTemplate, dest: string, what: { lists: boolean; archives: boolean }): Promise<void> {
  await mkdir(dest, { recursive: true });
  if (what.lists) await copyDir(template.lists, join(dest, 'lists'));
  if (what.archives) await copyDir(template.archives, join(dest, 'archives'));
}

export interface AptCacheTemplate {
  lists: string;
  archives: string;
}

/** Saves lists/ and archives/ of an apt cache (ours or raw) as a template below `dir`. */
export async function saveAptCache(cacheDir: string, dir: string): Promise<AptCacheTemplate> {
  await mkdir(dir, { recursive: true });
  const lists = join(dir, 'lists');
  const archives = join(dir, 'archives');
  await copyDir(join(cacheDir, 'lists'), lists);
  await copyDir(join(cacheDir, 'archives'), archives);
  for (const d of [lists, archives]) {
    // Half-downloaded files and locks do not belong in a template.
    await run(['rm', '-rf', '--', join(d, 'partial'), join(d, 'lock')]);
    await mkdir(join(d, 'partial'), { recursive: true });
  }
  return { lists, archives };
}

async function copyDir(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true, preserveTimestamps: true, force: true });
}

export async function countDebs(dir: string): Promise<number> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.deb')).length;
}

/** Writes a file by rename: files in a deployment's /etc may share inodes with the repository. */
export async function writeByRename(file: string, content: string): Promise<void> {
  await writeFile(`${file}.bench-new`, content);
  await rename(`${file}.bench-new`, file);
}

/** `ii` packages of a deployment's (or tree's) dpkg database. */
export async function installedPackages(root: string): Promise<Map<string, string>> {
  const out = await run(['dpkg-query', `--admindir=${join(root, 'usr/share/dpkg/database')}`, '-W',
    '-f=${db:Status-Abbrev} ${Package} ${Version}\\n']);
  const installed = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const [state, name, version] = line.trim().split(/\s+/);
    if (state === 'ii' && name !== undefined && version !== undefined) installed.set(name, version);
  }
  return installed;
}

/** Throws unless every one of `names` is installed in the deployment at `root`. */
export async function assertInstalled(root: string, names: readonly string[], who: string): Promise<void> {
  const installed = await installedPackages(root);
  const missing = names.filter((n) => !installed.has(n));
  if (missing.length > 0) throw new Error(`${who}: not installed in ${root}: ${missing.join(', ')}`);
}

export interface ScenarioResult {
  bench: 'layering' | 'relayer' | 'compose';
  scenario: string;
  /** What the two columns are: ours vs raw tools, or re-layering vs a cold layering. */
  oursLabel: string;
  otherLabel: string;
  oursMs: number[];
  otherMs: number[];
  oursMedianMs: number;
  otherMedianMs: number;
  ratio: number;
  /** CPU time per run (see timed()), and the ratio of the medians. */
  oursCpuMs: number[];
  otherCpuMs: number[];
  cpuRatio: number;
  goal: number;
  met: boolean;
  packages: string[];
  /** Packages actually unpacked (the requests and their dependencies). */
  closure: number;
  date: string;
  note?: string;
}

export function scenarioResult(r: Omit<ScenarioResult, 'oursMedianMs' | 'otherMedianMs' | 'ratio' | 'cpuRatio' | 'met' | 'date'>): ScenarioResult {
  const oursMedianMs = median(r.oursMs);
  const otherMedianMs = median(r.otherMs);
  const ratio = oursMedianMs / otherMedianMs;
  const cpuRatio = median(r.oursCpuMs) / median(r.otherCpuMs);
  // Judged as shown (two decimals): the run-to-run noise is larger than the third one.
  return { ...r, oursMedianMs, otherMedianMs, ratio, cpuRatio, met: Math.round(ratio * 100) <= Math.round(r.goal * 100), date: new Date().toISOString() };
}

export async function recordResult(args: BenchArgs, result: ScenarioResult): Promise<void> {
  if (args.results !== undefined) await appendFile(args.results, `${JSON.stringify(result)}\n`);
}

export function formatTable(results: readonly ScenarioResult[]): string {
  const rows = [
    ['scenario', 'ours', 'raw/baseline', 'ratio', 'goal', 'met?', 'cpu ratio'],
    ...results.map((r) => [
      r.scenario, seconds(r.oursMedianMs), seconds(r.otherMedianMs), `${r.ratio.toFixed(2)}x`, `<= ${r.goal}x`, r.met ? 'yes' : 'NO',
      Number.isFinite(r.cpuRatio) ? `${r.cpuRatio.toFixed(2)}x` : '-',
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  return rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

export function formatRuns(r: ScenarioResult): string {
  const list = (ms: readonly number[]): string => ms.map((m) => (m / 1000).toFixed(2)).join(' ');
  const min = (ms: readonly number[]): number => Math.min(...ms);
  return `${r.scenario}: ${r.oursLabel} [${list(r.oursMs)}] s, ${r.otherLabel} [${list(r.otherMs)}] s; `
    + `medians ${seconds(r.oursMedianMs)} / ${seconds(r.otherMedianMs)} = ${r.ratio.toFixed(2)}x, `
    + `minima ${seconds(min(r.oursMs))} / ${seconds(min(r.otherMs))} = ${(min(r.oursMs) / min(r.otherMs)).toFixed(2)}x; `
    + `cpu [${list(r.oursCpuMs)}] / [${list(r.otherCpuMs)}] s, medians ${r.cpuRatio.toFixed(2)}x`;
}

export async function readResults(file: string): Promise<ScenarioResult[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ScenarioResult);
}

/** Which side goes first in repetition i: ABBA order, so that a drift over the run weighs on both sides alike. */
export function oursFirst(i: number): boolean {
  return i % 4 === 0 || i % 4 === 3;
}
