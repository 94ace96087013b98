/**
 * Re-layering on a new base: 10 packages installed on v1, then `apt-ostree upgrade` to v2 re-applies them (the package
 * lists are fresh and the .debs cached from the install), against a cold layering of the same 10 (a fresh sysroot on
 * v2 with empty caches, `apt-ostree install`). Both with the CLI bundle, each repetition on a fresh sysroot,
 * ABBA-interleaved. The upgrade's time includes pulling v2 from the remote; the install on v1 is not timed.
 *
 * Prints the medians, the ratio upgrade/cold install (goal ≤ 0.5×) and where both spend their time (in-process
 * engine runs timed by task and child process).
 *
 *   node --import tsx bench/relayer.ts [--debian [--no-kit]] [--reps N] [--profile N] [--results FILE]
 */
import { loadSysroot } from '../src/core/sysroot/sysroot.js';
import { run } from '../src/lib/exec.js';
import {
  assertInstalled, cli, cliStartMs, formatRuns, median, log, oursFirst, recordResult, scenarioResult, timed, wanted,
  type BenchArgs, type ScenarioResult, type Timed,
} from './lib/common.js';
import { formatBreakdown, formatProcesses, profileEngine, type EngineProfile } from './lib/profile.js';
import { benchMain, type BenchSysroot, type BenchTarget } from './lib/targets.js';

const USAGE = 'usage: node --import tsx bench/relayer.ts [--debian [--no-kit]] [--reps N] [--profile N] [--only PREFIX] [--results FILE] [-v]';
const GOAL = 0.5;

/** Checks that the default deployment is the packages layered on `base`. */
async function assertLayeredOn(s: BenchSysroot, base: string, packages: readonly string[], who: string): Promise<void> {
  const d = (await loadSysroot(s.path)).deployments[0];
  if (!d) throw new Error(`${who}: no deployment in ${s.path}`);
  const r = await run(['ostree', 'show', `--repo=${s.repo}`, '--print-metadata-key=apt-ostree.base', d.checksum]);
  if (r.stdout.trim().replace(/^'|'$/g, '') !== base) throw new Error(`${who}: the new deployment is not layered on ${base}: ${r.stdout.trim()}`);
  await assertInstalled(d.path, packages, who);
}

/** A sysroot with the packages layered on v1 (untimed), ready for the upgrade to v2. */
async function layeredOnV1(target: BenchTarget, packages: readonly string[]): Promise<BenchSysroot> {
  const s = await target.newSysroot('v1');
  try {
    await cli(s.path, ['install', ...packages]);
    return s;
  } catch (err) {
    await s.remove();
    throw err;
  }
}

async function runRelayer(target: BenchTarget, packages: readonly string[]): Promise<Timed<unknown>> {
  const s = await layeredOnV1(target, packages);
  try {
    const t = await timed(() => cli(s.path, ['upgrade']));
    await assertLayeredOn(s, target.commits.v2, packages, 'apt-ostree upgrade');
    return t;
  } finally {
    await s.remove();
  }
}

async function runColdInstall(target: BenchTarget, packages: readonly string[]): Promise<Timed<unknown>> {
  const s = await target.newSysroot('v2');
  try {
    const t = await timed(() => cli(s.path, ['install', ...packages]));
    await assertLayeredOn(s, target.commits.v2, packages, 'apt-ostree install on v2');
    return t;
  } finally {
    await s.remove();
  }
}

async function profileRelayer(target: BenchTarget, packages: readonly string[]): Promise<EngineProfile> {
  const s = await layeredOnV1(target, packages);
  try {
    const p = await profileEngine(s.path, { kind: 'upgrade' });
    await assertLayeredOn(s, target.commits.v2, packages, 'apt-ostree upgrade (in-process)');
    return p;
  } finally {
    await s.remove();
  }
}

async function profileColdInstall(target: BenchTarget, packages: readonly string[]): Promise<EngineProfile> {
  const s = await target.newSysroot('v2');
  try {
    const p = await profileEngine(s.path, { kind: 'pkg-change', install: [...packages] });
    await assertLayeredOn(s, target.commits.v2, packages, 'apt-ostree install on v2 (in-process)');
    return p;
  } finally {
    await s.remove();
  }
}

async function benchTarget(args: BenchArgs, target: BenchTarget): Promise<ScenarioResult[]> {
  const reps = args.reps ?? (target.name === 'kit' ? 7 : 3);
  const profileRuns = args.profile ?? (target.name === 'kit' ? 3 : 1);
  const packages = target.packages;
  const name = `relayer/${target.name}/${packages.length}`;
  if (!wanted(args, name)) return [];
  log(`\n== ${name}: ${packages.join(' ')} (${reps} runs per side, ABBA order)`);
  const relayer: number[] = [];
  const cold: number[] = [];
  const relayerCpu: number[] = [];
  const coldCpu: number[] = [];
  const up: EngineProfile[] = [];
  const inst: EngineProfile[] = [];
  const starts: number[] = [];
  for (let i = 0; i < reps; i++) {
    for (const side of oursFirst(i) ? ['relayer', 'cold'] : ['cold', 'relayer']) {
      const t = side === 'relayer' ? await runRelayer(target, packages) : await runColdInstall(target, packages);
      (side === 'relayer' ? relayer : cold).push(t.ms);
      (side === 'relayer' ? relayerCpu : coldCpu).push(t.cpuMs);
      if (args.verbose) log(`  run ${i + 1} ${side}: ${(((side === 'relayer' ? relayer.at(-1) : cold.at(-1)) ?? 0) / 1000).toFixed(2)}s`);
    }
    // Profiled runs go in between, so that they see the same conditions as the timed ones.
    if (i < profileRuns) {
      up.push(await profileRelayer(target, packages));
      inst.push(await profileColdInstall(target, packages));
    }
    starts.push(await cliStartMs());
  }
  const result = scenarioResult({
    bench: 'relayer', scenario: name, oursLabel: 'upgrade (re-layer on v2)', otherLabel: 'cold install on v2',
    oursMs: relayer, otherMs: cold, oursCpuMs: relayerCpu, otherCpuMs: coldCpu, goal: GOAL, packages: [...packages], closure: 0,
  });
  await recordResult(args, result);
  log(formatRuns(result));
  log(`${name}: upgrade/cold install = ${result.ratio.toFixed(2)}x (goal <= ${GOAL}x)`);
  if (up.length > 0) {
    const extra = [{ label: '+ CLI start (node, bundle load; `--version`, median)', ms: median(starts) }];
    log(`\n-- ${name}: upgrade v1→v2 re-layering (median of ${up.length} in-process engine runs)`);
    log(formatBreakdown(up, extra));
    log(formatProcesses(up));
    log(`\n-- ${name}: cold install on v2 (median of ${up.length} in-process engine runs)`);
    log(formatBreakdown(inst, extra));
    log(formatProcesses(inst));
  }
  return [result];
}

await benchMain(USAGE, benchTarget);
