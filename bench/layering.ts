/**
 * Layering N packages: `apt-ostree install` (the CLI bundle, as a user runs it) against the raw tools doing the same
 * job by hand (lib/raw.ts), side by side in one run, each repetition on a fresh sysroot, ABBA-interleaved.
 *
 *   warm: the package lists are fetched and the .debs cached before the clock starts (both sides get copies of
 *         the same template cache; apt-ostree's lists are also marked fresh with an untimed `refresh-md`)
 *   cold: empty caches; both sides run apt-get update and download every .deb
 *
 * Prints the medians, the ratio ours/raw (goal ≤ 1.3×), and where apt-ostree spends its time (in-process engine
 * runs timed by task) next to the raw steps.
 *
 *   node --import tsx bench/layering.ts [--debian [--no-kit]] [--reps N] [--profile N] [--only PREFIX] [--results FILE]
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadSysroot } from '../src/core/sysroot/sysroot.js';
import {
  assertInstalled, BENCH_ROOT, cli, cliStartMs, formatRuns, median, log, oursFirst, recordResult, saveAptCache,
  scenarioResult, seedAptCache, timed, wanted, type AptCacheTemplate, type BenchArgs, type ScenarioResult, type Timed,
} from './lib/common.js';
import { formatBreakdown, formatProcesses, formatRawPhases, profileEngine, type EngineProfile } from './lib/profile.js';
import { rawLayer } from './lib/raw.js';
import { benchMain, type BenchSysroot, type BenchTarget } from './lib/targets.js';

const USAGE = 'usage: node --import tsx bench/layering.ts [--debian [--no-kit]] [--reps N] [--profile N] [--only PREFIX] [--results FILE] [-v]';
const GOAL = 1.3;

type Cache = 'warm' | 'cold';

interface Scenario {
  name: string;
  packages: readonly string[];
  cache: Cache;
}

async function defaultDeployment(s: BenchSysroot): Promise<string> {
  const d = (await loadSysroot(s.path)).deployments[0];
  if (!d) throw new Error(`no deployment in ${s.path}`);
  return d.path;
}

/** A fresh sysroot on v1 in the scenario's cache state, for apt-ostree. */
async function oursSysroot(target: BenchTarget, cache: Cache, template: AptCacheTemplate): Promise<BenchSysroot> {
  const s = await target.newSysroot('v1');
  if (cache === 'warm') {
    await seedAptCache(template, s.oursCacheDir, { lists: true, archives: true });
    // The lists' freshness stamp names the deployment's sources by path: a new sysroot needs one of its own.
    await cli(s.path, ['refresh-md']);
  }
  return s;
}

async function runOurs(target: BenchTarget, sc: Scenario, template: AptCacheTemplate): Promise<Timed<unknown>> {
  const s = await oursSysroot(target, sc.cache, template);
  try {
    const t = await timed(() => cli(s.path, ['install', ...sc.packages]));
    await assertInstalled(await defaultDeployment(s), sc.packages, 'apt-ostree install');
    return t;
  } finally {
    await s.remove();
  }
}

async function runRaw(target: BenchTarget, sc: Scenario, template: AptCacheTemplate):
  Promise<{ ms: number; cpuMs: number; phases: [string, number][]; closure: number }> {
  const s = await target.newSysroot('v1');
  try {
    const aptDir = join(s.stateroot, 'var/cache/raw-apt');
    if (sc.cache === 'warm') await seedAptCache(template, aptDir, { lists: true, archives: true });
    const t = await timed(() => rawLayer({ sysroot: s, packages: sc.packages, aptDir, update: sc.cache === 'cold' }));
    await assertInstalled(t.value.deployment, sc.packages, 'raw tools');
    return { ms: t.ms, cpuMs: t.cpuMs, phases: t.value.phases, closure: t.value.unpacked.length };
  } finally {
    await s.remove();
  }
}

async function profileOurs(target: BenchTarget, sc: Scenario, template: AptCacheTemplate): Promise<EngineProfile> {
  const s = await oursSysroot(target, sc.cache, template);
  try {
    const p = await profileEngine(s.path, { kind: 'pkg-change', install: [...sc.packages] });
    await assertInstalled(await defaultDeployment(s), sc.packages, 'apt-ostree (in-process)');
    return p;
  } finally {
    await s.remove();
  }
}

/** One untimed `apt-ostree install` fills a cache with the lists and every .deb the scenarios need. */
async function makeTemplate(target: BenchTarget): Promise<AptCacheTemplate> {
  log(`${target.name}: filling the template cache (apt-ostree install ${target.packages.join(' ')})`);
  const s = await target.newSysroot('v1');
  try {
    await cli(s.path, ['install', ...target.packages]);
    return await saveAptCache(s.oursCacheDir, join(BENCH_ROOT, `template-${target.name}-${process.pid}`));
  } finally {
    await s.remove();
  }
}

async function benchTarget(args: BenchArgs, target: BenchTarget): Promise<ScenarioResult[]> {
  const reps = args.reps ?? (target.name === 'kit' ? 7 : 3);
  const profileRuns = args.profile ?? (target.name === 'kit' ? 3 : 1);
  const n = target.packages.length;
  const all: Scenario[] = [
    { name: `layering/${target.name}/warm-${n}`, packages: target.packages, cache: 'warm' },
    { name: `layering/${target.name}/cold-${n}`, packages: target.packages, cache: 'cold' },
    { name: `layering/${target.name}/warm-${target.smallPackages.join('+')}`, packages: target.smallPackages, cache: 'warm' },
  ];
  const scenarios = all.filter((sc) => wanted(args, sc.name));
  if (scenarios.length === 0) return [];
  const template = await makeTemplate(target);
  try {
    return await runScenarios(args, target, scenarios, template, { reps, profileRuns });
  } finally {
    await rm(dirname(template.lists), { recursive: true, force: true });
  }
}

async function runScenarios(args: BenchArgs, target: BenchTarget, scenarios: readonly Scenario[], template: AptCacheTemplate,
  o: { reps: number; profileRuns: number }): Promise<ScenarioResult[]> {
  const { reps, profileRuns } = o;
  const results: ScenarioResult[] = [];
  for (const sc of scenarios) {
    log(`\n== ${sc.name}: ${sc.packages.join(' ')} (${reps} runs per side, ABBA order)`);
    const ours: number[] = [];
    const raw: number[] = [];
    const oursCpu: number[] = [];
    const rawCpu: number[] = [];
    const rawPhases: [string, number][][] = [];
    const profiles: EngineProfile[] = [];
    const starts: number[] = [];
    let closure = 0;
    for (let i = 0; i < reps; i++) {
      const sides = oursFirst(i) ? ['ours', 'raw'] : ['raw', 'ours'];
      for (const side of sides) {
        if (side === 'ours') {
          const r = await runOurs(target, sc, template);
          ours.push(r.ms);
          oursCpu.push(r.cpuMs);
        } else {
          const r = await runRaw(target, sc, template);
          raw.push(r.ms);
          rawCpu.push(r.cpuMs);
          rawPhases.push(r.phases);
          closure = r.closure;
        }
        if (args.verbose) log(`  run ${i + 1} ${side}: ${(((side === 'ours' ? ours.at(-1) : raw.at(-1)) ?? 0) / 1000).toFixed(2)}s`);
      }
      // Profiled runs go in between, so that they see the same conditions as the timed ones.
      if (i < profileRuns) profiles.push(await profileOurs(target, sc, template));
      starts.push(await cliStartMs());
    }
    const result = scenarioResult({
      bench: 'layering', scenario: sc.name, oursLabel: 'apt-ostree install', otherLabel: 'raw tools', oursMs: ours, otherMs: raw,
      oursCpuMs: oursCpu, otherCpuMs: rawCpu, goal: GOAL, packages: [...sc.packages], closure,
    });
    await recordResult(args, result);
    results.push(result);
    log(formatRuns(result));
    log(`${sc.name}: ${closure} packages unpacked; ours/raw = ${result.ratio.toFixed(2)}x (goal <= ${GOAL}x)`);
    if (profiles.length > 0) {
      log(`\n-- ${sc.name}: apt-ostree phases (median of ${profiles.length} in-process engine runs)`);
      log(formatBreakdown(profiles, [{ label: '+ CLI start (node, bundle load; `--version`, median)', ms: median(starts) }]));
      log(formatProcesses(profiles));
      log(`-- ${sc.name}: raw tools steps (median of ${reps} runs)`);
      log(formatRawPhases(rawPhases));
    }
  }
  return results;
}

await benchMain(USAGE, benchTarget);
