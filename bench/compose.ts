/**
 * Composing an image: `apt-ostree compose tree` (the CLI bundle, as a user runs it) against the raw tools doing the
 * same work by hand (lib/compose-raw.ts), side by side in one run, ABBA-interleaved (issue 5: goal ≤ 1.2×).
 *
 *   ours: `apt-ostree compose tree T --repo R --cachedir C --force-nocache --json`: the package set resolved by apt
 *         (update + simulated install, lists kept in C, for the input hash), mmdebstrap, the treefile's
 *         customizations, [dracut], the base image contract, ostree commit into a temporary bare repository and
 *         pull-local into R; its work directory (the root) is removed before it exits.
 *   raw:  lib/compose-raw.ts: mmdebstrap with compose's own command line and environment (the same cache hooks read
 *         the same C), the treefile's files, units and scripts (one bwrap), [dracut in bwrap with compose's
 *         arguments], the least ostree needs (kernel and initramfs into usr/lib/modules/K/, etc → usr/etc, the dpkg
 *         database into /usr, /boot and /dev emptied), ostree commit into a bare repository, pull-local into R,
 *         rm -rf of the bare repository and the root.
 *
 * Both sides: R is a new, empty archive repository in every run (made before the clock starts), so both write every
 * object (a repository already holding them would make the pull-local nearly free and hide the commit's cost);
 * --force-nocache is passed anyway. C is warm: one untimed compose (the warm-up, with --workdir kept) fills it, and
 * its logged mmdebstrap command line must equal the raw side's. mmdebstrap runs `apt-get update` in every run on
 * both sides (compose has no switch for it): on Debian that is the network, on the kit a copy:// repository.
 * Each run's roots go to /var/tmp (compose's default work directory), the repositories to BENCH_ROOT.
 *
 * Targets: the kit (a chrootless custom-variant treefile over the kit's apt repository, file://, as
 * tests/system/compose.test.ts; initramfs: packaged) and, with --debian, the real trixie test image
 * (tests/debian/test-image.yaml: minbase, the host's Debian archive, dracut, eatmydata), whose .deb cache is kept in
 * BENCH_ROOT/compose-debian-cache between runs of the benchmark.
 *
 * Prints the medians, the ratio ours/raw and, per compose phase (install / postprocess / commit / outside), ours'
 * time (from --json) next to the raw steps that stand for it.
 *
 *   node --import tsx bench/compose.ts [--debian [--no-kit]] [--reps N] [--only PREFIX] [--results FILE] [-v]
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDeb822 } from '../src/lib/deb822.js';
import { run } from '../src/lib/exec.js';
import { getKit } from '../tests/kit/index.js';
import { kitTreefile } from '../tests/kit/treefile.js';
import { TREEFILE as DEBIAN_TREEFILE } from '../tests/debian/base.js';
import {
  BENCH_ROOT, cli, cliStartMs, formatRuns, formatTable, log, median, oursFirst, parseArgs, recordResult, scenarioResult, seconds,
  timed, wanted, type BenchArgs, type ScenarioResult,
} from './lib/common.js';
import { formatRawPhases } from './lib/profile.js';
import { planRawCompose, rawCompose, rawMmdebstrapArgv, RAW_STEPS, type ComposePhase, type RawComposePlan } from './lib/compose-raw.js';

const USAGE = 'usage: node --import tsx bench/compose.ts [--debian [--no-kit]] [--reps N] [--only PREFIX] [--results FILE] [-v]';
const GOAL = 1.2;
const DPKG_STATUS = '/usr/share/dpkg/database/status';

interface ComposeTarget {
  name: 'kit' | 'debian';
  treefile: string;
  /** compose's --cachedir (the .debs in debs/ below it). */
  cacheDir: string;
  defaultReps: number;
  close(): Promise<void>;
}

interface ComposeJson {
  ref: string;
  commit?: string;
  changed: boolean;
  packages: string[];
  phases: { name: string; seconds: number }[];
}

/** The kit's base v1 as a treefile (tests/kit/treefile.ts), as tests/system/compose.test.ts composes it. */
async function kitTarget(): Promise<ComposeTarget> {
  const kit = await getKit();
  const dir = await mkdtemp(join(BENCH_ROOT, 'compose-kit-'));
  await writeFile(join(dir, 'motd'), 'composed by the apt-ostree benchmark\n');
  const treefile = join(dir, 'kit.yaml');
  await writeFile(treefile, kitTreefile(kit, { ref: 'bench/kit/composed' }));
  return { name: 'kit', treefile, cacheDir: join(dir, 'cache'), defaultReps: 3, close: () => rm(dir, { recursive: true, force: true }) };
}

/** The real-Debian test image; its .deb cache stays in BENCH_ROOT, so that only the first run downloads. */
function debianTarget(): Promise<ComposeTarget> {
  return Promise.resolve({
    name: 'debian', treefile: DEBIAN_TREEFILE, cacheDir: join(BENCH_ROOT, 'compose-debian-cache'), defaultReps: 2,
    close: () => Promise.resolve(),
  });
}

/** Installed packages (name=version) and the kernel of a commit: both sides must have built the same image. */
async function describeCommit(repo: string, ref: string): Promise<{ packages: string[]; kernel: string }> {
  const status = (await run(['ostree', 'cat', `--repo=${repo}`, ref, DPKG_STATUS])).stdout;
  const packages = parseDeb822(status).filter((p) => /\sinstalled$/.test(p.get('Status') ?? ''))
    .map((p) => `${p.get('Package') ?? ''}:${p.get('Architecture') ?? ''}=${p.get('Version') ?? ''}`).sort();
  const kernel = (await run(['ostree', 'show', `--repo=${repo}`, '--print-metadata-key=ostree.linux', ref])).stdout.trim();
  return { packages, kernel };
}

async function newRepo(t: ComposeTarget, side: string): Promise<{ dir: string; repo: string }> {
  const dir = await mkdtemp(join(BENCH_ROOT, `compose-${t.name}-${side}-`));
  const repo = join(dir, 'repo');
  await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
  return { dir, repo };
}

interface SideRun {
  ms: number;
  cpuMs: number;
  phases: [string, number][];
  image: { packages: string[]; kernel: string };
}

async function runOurs(t: ComposeTarget, ref: string): Promise<SideRun> {
  const { dir, repo } = await newRepo(t, 'ours');
  try {
    const r = await timed(() => cli('/', ['compose', 'tree', t.treefile, '--repo', repo, '--cachedir', t.cacheDir, '--force-nocache', '--json']));
    const out = JSON.parse(r.value.stdout) as ComposeJson;
    if (!out.changed || out.commit === undefined) throw new Error(`apt-ostree compose tree made no commit: ${r.value.stdout.slice(0, 300)}`);
    const tip = (await run(['ostree', 'rev-parse', `--repo=${repo}`, ref])).stdout.trim();
    if (tip !== out.commit) throw new Error(`apt-ostree compose tree: ${ref} is ${tip}, not ${out.commit}`);
    const phases = out.phases.map((p): [string, number] => [p.name, p.seconds * 1000]);
    phases.push(['other', r.ms - phases.reduce((sum, [, ms]) => sum + ms, 0)]);
    return { ms: r.ms, cpuMs: r.cpuMs, phases, image: await describeCommit(repo, ref) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runRaw(t: ComposeTarget, plan: RawComposePlan): Promise<SideRun> {
  const { dir, repo } = await newRepo(t, 'raw');
  try {
    const r = await timed(() => rawCompose(plan, repo));
    const ref = plan.loaded.treefile.ref;
    const tip = (await run(['ostree', 'rev-parse', `--repo=${repo}`, ref])).stdout.trim();
    if (tip !== r.value.commit) throw new Error(`raw tools: ${ref} is ${tip}, not ${r.value.commit}`);
    return { ms: r.ms, cpuMs: r.cpuMs, phases: r.value.phases, image: await describeCommit(repo, ref) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One untimed compose fills the .deb cache, and shows the mmdebstrap command line compose runs (its log, kept with
 * --workdir): the raw side's must be the same, or the comparison is off.
 */
async function warmUp(t: ComposeTarget, plan: RawComposePlan): Promise<void> {
  const { dir, repo } = await newRepo(t, 'warmup');
  try {
    const work = join(dir, 'work');
    const started = performance.now();
    await cli('/', ['compose', 'tree', t.treefile, '--repo', repo, '--cachedir', t.cacheDir, '--workdir', work, '--json']);
    const debs = (await readdir(join(t.cacheDir, 'debs'))).filter((n) => n.endsWith('.deb')).length;
    log(`${t.name}: warm-up compose ${seconds(performance.now() - started)}, ${debs} .debs in ${t.cacheDir}/debs`);
    const logged = (await readFile(join(work, 'install/mmdebstrap.log'), 'utf8')).split('\n')[0] ?? '';
    const raw = rawMmdebstrapArgv(plan, join(work, 'rootfs')).join(' ');
    if (logged !== raw) throw new Error(`the raw mmdebstrap command line differs from compose's:\n  compose: ${logged}\n  raw:     ${raw}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const PHASE_LABELS: Readonly<Record<string, string>> = {
  resolve: 'resolve (apt, simulated)',
  install: 'install (mmdebstrap)',
  other: 'outside the phases',
};

/** Ours' phases (compose --json) next to the raw steps that stand for each, medians over the runs. */
function formatSideBySide(ours: readonly (readonly [string, number][])[], raw: readonly (readonly [string, number][])[], cliStart: number): string {
  const sum = (one: readonly (readonly [string, number])[], keep: (name: string) => boolean): number =>
    one.filter(([name]) => keep(name)).reduce((s, [, ms]) => s + ms, 0);
  const rawPhase = (name: string): ComposePhase | undefined => (RAW_STEPS as Record<string, ComposePhase | undefined>)[name];
  // compose's phases in its order (it may gain some), then what no phase covers.
  const phases: string[] = ['resolve', 'install', 'postprocess', 'commit'];
  for (const r of ours) for (const [name] of r) if (!phases.includes(name) && name !== 'other') phases.push(name);
  phases.push('other');
  const rows: string[][] = [];
  for (const phase of phases) {
    const o = median(ours.map((r) => sum(r, (n) => n === phase)));
    const w = median(raw.map((r) => sum(r, (n) => rawPhase(n) === phase)));
    const steps = Object.keys(RAW_STEPS).filter((n) => rawPhase(n) === phase)
      .map((n) => [n, median(raw.map((r) => sum(r, (x) => x === n)))] as const).filter(([, ms]) => ms > 0)
      .map(([n, ms]) => `${n} ${seconds(ms)}`);
    if (phase === 'other') steps.push(`ours: node + bundle start ~${seconds(cliStart)}, treefile, rm -rf of the work directory`);
    rows.push([PHASE_LABELS[phase] ?? phase, seconds(o), seconds(w), seconds(o - w), steps.length > 0 ? steps.join(', ') : '-']);
  }
  const total = (runs: readonly (readonly [string, number][])[]): number => median(runs.map((r) => sum(r, () => true)));
  rows.push(['total', seconds(total(ours)), seconds(total(raw)), seconds(total(ours) - total(raw)), '']);
  const line = (cells: readonly string[]): string =>
    `${(cells[0] ?? '').padEnd(26)}${cells.slice(1, 4).map((c) => c.padStart(9)).join('')}   ${cells[4] ?? ''}`.trimEnd();
  return [line(['phase', 'ours', 'raw', 'ours-raw', 'raw steps (medians)']), ...rows.map(line)].join('\n');
}

function composeResult(r: Omit<Parameters<typeof scenarioResult>[0], 'bench'>): ScenarioResult {
  return scenarioResult({ ...r, bench: 'compose' });
}

async function benchTarget(args: BenchArgs, t: ComposeTarget, scenario: string): Promise<ScenarioResult> {
  const reps = args.reps ?? t.defaultReps;
  const plan = await planRawCompose(t.treefile, t.cacheDir);
  const tf = plan.loaded.treefile;
  log(`\n== ${scenario}: ${t.treefile} (${tf.variant}, ${tf['bootstrap-mode']}, initramfs ${tf.initramfs}, ${tf.packages.length} packages`
    + ` requested; ${reps} runs per side, ABBA order)`);
  await warmUp(t, plan);
  const ours: SideRun[] = [];
  const raw: SideRun[] = [];
  const starts: number[] = [];
  for (let i = 0; i < reps; i++) {
    for (const side of oursFirst(i) ? ['ours', 'raw'] : ['raw', 'ours']) {
      const r = side === 'ours' ? await runOurs(t, tf.ref) : await runRaw(t, plan);
      (side === 'ours' ? ours : raw).push(r);
      if (args.verbose) log(`  run ${i + 1} ${side}: ${seconds(r.ms)} (${r.phases.map(([n, ms]) => `${n} ${seconds(ms)}`).join(', ')})`);
    }
    starts.push(await cliStartMs());
  }
  // Same packages, same versions, same kernel on both sides, in every run.
  const reference = ours[0]!.image;
  for (const r of [...ours, ...raw]) {
    if (r.image.kernel !== reference.kernel || r.image.packages.join('\n') !== reference.packages.join('\n')) {
      const a = new Set(reference.packages);
      const b = new Set(r.image.packages);
      throw new Error(`${scenario}: the two sides built different images: kernel ${reference.kernel} / ${r.image.kernel}; `
        + `only in ours' first: ${[...a].filter((p) => !b.has(p)).join(' ')}; only in the other: ${[...b].filter((p) => !a.has(p)).join(' ')}`);
    }
  }
  const result = composeResult({
    scenario, oursLabel: 'apt-ostree compose tree', otherLabel: 'raw tools', oursMs: ours.map((r) => r.ms), otherMs: raw.map((r) => r.ms),
    oursCpuMs: ours.map((r) => r.cpuMs), otherCpuMs: raw.map((r) => r.cpuMs), goal: GOAL, packages: [...tf.packages],
    closure: reference.packages.length,
  });
  await recordResult(args, result);
  log(formatRuns(result));
  log(`${scenario}: ${reference.packages.length} packages installed, kernel ${reference.kernel}; ours/raw = ${result.ratio.toFixed(2)}x (goal <= ${GOAL}x)`);
  log(`\n-- ${scenario}: where the time goes (median of ${reps} runs per side)`);
  log(formatSideBySide(ours.map((r) => r.phases), raw.map((r) => r.phases), median(starts)));
  log(`-- ${scenario}: raw tools steps`);
  log(formatRawPhases(raw.map((r) => r.phases)));
  return result;
}

const args = parseArgs(process.argv.slice(2), USAGE);
const results: ScenarioResult[] = [];
const targets: [string, () => Promise<ComposeTarget>][] = [];
if (!args.noKit) targets.push(['compose/kit', kitTarget]);
if (args.debian) targets.push(['compose/debian', debianTarget]);
for (const [scenario, open] of targets) {
  if (!wanted(args, scenario)) continue;
  const t = await open();
  try {
    results.push(await benchTarget(args, t, scenario));
  } finally {
    await t.close();
  }
}
process.stdout.write(`\n${formatTable(results)}\n`);
