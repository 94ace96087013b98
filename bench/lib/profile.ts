/**
 * Where apt-ostree spends its time: the engine runs in this process with a ProgressSink that stamps every task's
 * begin and end, and the spans are folded into a tree of phases (median over the profiled runs). Time no task
 * covers shows up as "(outside tasks)" at each level.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';
import { execute } from '../../src/core/engine.js';
import type { ProgressSink } from '../../src/core/progress.js';
import type { Request } from '../../src/core/requests.js';
import { run } from '../../src/lib/exec.js';
import { median, seconds } from './common.js';

export interface Span {
  title: string;
  /** Titles of the enclosing tasks, outermost first. */
  path: string[];
  start: number;
  end: number;
}

export class TimingSink implements ProgressSink {
  readonly spans: Span[] = [];
  private readonly open: { title: string; start: number }[] = [];

  message(): void { /* not timed */ }
  percent(): void { /* not timed */ }
  download(): void { /* not timed */ }

  taskBegin(title: string): void {
    this.open.push({ title, start: performance.now() });
  }

  taskEnd(title: string): void {
    let i = this.open.length - 1;
    while (i >= 0 && this.open[i]!.title !== title) i--;
    if (i < 0) return;
    const [span] = this.open.splice(i, 1);
    this.spans.push({ title, path: this.open.slice(0, i).map((s) => s.title), start: span!.start, end: performance.now() });
  }
}

export interface ProcessSpan {
  label: string;
  start: number;
  end: number;
}

export interface EngineProfile {
  totalMs: number;
  spans: Span[];
  processes: ProcessSpan[];
}

let recording: ProcessSpan[] | undefined;
let tracing = false;

/**
 * Every child process the engine starts (src/lib/exec.ts spawns them all), with its start and end: node's builtin
 * modules' ESM exports follow their CommonJS object after syncBuiltinESMExports(), so a wrapped spawn is what
 * exec.ts calls from then on.
 */
function traceSpawns(): void {
  if (tracing) return;
  tracing = true;
  const original = childProcess.spawn;
  const wrapped = function (this: unknown, ...args: unknown[]): childProcess.ChildProcess {
    const called = performance.now();
    const child = (original as (...a: unknown[]) => childProcess.ChildProcess).apply(this, args);
    const into = recording;
    // The sysroot lock's holder (src/core/sysroot/lock.ts) lives as long as the operation: not a step of it.
    if (into !== undefined && args[0] !== 'perl') {
      const file = typeof args[0] === 'string' ? args[0] : '?';
      const rest = Array.isArray(args[1]) ? (args[1] as unknown[]).map(String) : [];
      const span: ProcessSpan = { label: processLabel([file, ...rest]), start: called, end: Number.NaN };
      into.push(span);
      child.once('close', () => { span.end = performance.now(); });
    }
    return child;
  };
  childProcess.spawn = wrapped as typeof childProcess.spawn;
  syncBuiltinESMExports();
}

const APT_MODES = ['update', 'install', 'show', 'policy', 'search', 'download'];
const APT_FLAGS = ['-s', '--print-uris', '--download-only'];
const DPKG_ACTIONS = ['--unpack', '--configure', '--audit', '--print-architecture', '--remove', '--purge', '--compare-versions'];

/** A short name for a command line: `ostree cat`, `apt-get -s install`, `bwrap dpkg --unpack`, `cp`. */
export function processLabel(argv: readonly string[]): string {
  const name = basename(argv[0] ?? '?');
  const args = argv.slice(1);
  if (name === 'bwrap') {
    const at = args.indexOf('--');
    return `bwrap ${at >= 0 ? processLabel(args.slice(at + 1)) : '?'}`;
  }
  if (name === 'ostree') {
    const words = args.filter((a) => !a.startsWith('-'));
    return `ostree ${words[0] === 'admin' ? `admin ${words[1] ?? ''}` : words[0] ?? ''}`.trim();
  }
  if (name === 'apt-get' || name === 'apt-cache') {
    const flags = APT_FLAGS.filter((f) => args.includes(f));
    const mode = args.find((a) => APT_MODES.includes(a)) ?? '';
    return [name, ...flags, mode].filter(Boolean).join(' ');
  }
  if (name === 'dpkg') return `dpkg ${args.find((a) => DPKG_ACTIONS.includes(a)) ?? ''}`.trim();
  return name;
}

/** Runs one request through the engine in this process and records its tasks and child processes. */
export async function profileEngine(sysroot: string, req: Request): Promise<EngineProfile> {
  traceSpawns();
  const sink = new TimingSink();
  const processes: ProcessSpan[] = [];
  await run(['sync']);
  recording = processes;
  const started = performance.now();
  try {
    await execute({ sysroot, progress: sink }, req);
  } finally {
    recording = undefined;
  }
  const totalMs = performance.now() - started;
  return {
    totalMs,
    spans: sink.spans.map((s) => ({ ...s, start: s.start - started, end: s.end - started })),
    processes: processes.map((p) => ({ ...p, start: p.start - started, end: (Number.isNaN(p.end) ? performance.now() : p.end) - started })),
  };
}

/** Time covered by at least one of the intervals. */
function covered(intervals: readonly { start: number; end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = Number.NEGATIVE_INFINITY;
  let curEnd = Number.NEGATIVE_INFINITY;
  for (const iv of sorted) {
    if (iv.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = iv.start;
      curEnd = iv.end;
    } else {
      curEnd = Math.max(curEnd, iv.end);
    }
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/**
 * Child processes by label: how many per run and their wall time (median per run), and the time no child process
 * was running (JavaScript and in-process file system work). The untracked time of the task tree (outside any task)
 * is split the same way.
 */
export function formatProcesses(profiles: readonly EngineProfile[]): string {
  if (profiles.length === 0) return '';
  const labels: string[] = [];
  for (const p of profiles) for (const s of p.processes) if (!labels.includes(s.label)) labels.push(s.label);
  const total = median(profiles.map((p) => p.totalMs));
  const rows = labels.map((label) => {
    const ms = median(profiles.map((p) => p.processes.filter((s) => s.label === label).reduce((sum, s) => sum + (s.end - s.start), 0)));
    const count = median(profiles.map((p) => p.processes.filter((s) => s.label === label).length));
    return { label, ms, count };
  }).sort((a, b) => b.ms - a.ms);
  const lines = rows.map((r) =>
    `${`  ${r.label} ×${r.count}`.padEnd(58)} ${seconds(r.ms).padStart(8)}  ${((100 * r.ms) / total).toFixed(0).padStart(3)}%`);
  const procCount = median(profiles.map((p) => p.processes.length));
  const noChild = median(profiles.map((p) => p.totalMs - covered(p.processes)));
  const outsideTasks = profiles.map((p) => {
    const top = p.spans.filter((s) => s.path.length === 0);
    const gaps: { start: number; end: number }[] = [];
    let at = 0;
    for (const s of [...top].sort((a, b) => a.start - b.start)) {
      if (s.start > at) gaps.push({ start: at, end: s.start });
      at = Math.max(at, s.end);
    }
    if (p.totalMs > at) gaps.push({ start: at, end: p.totalMs });
    const inGaps = p.processes.flatMap((pr) => gaps.map((g) => ({ start: Math.max(pr.start, g.start), end: Math.min(pr.end, g.end) })))
      .filter((iv) => iv.end > iv.start);
    const byLabel = new Map<string, number>();
    for (const pr of p.processes) {
      for (const g of gaps) {
        const ms = Math.min(pr.end, g.end) - Math.max(pr.start, g.start);
        if (ms > 0) byLabel.set(pr.label, (byLabel.get(pr.label) ?? 0) + ms);
      }
    }
    return { gapMs: gaps.reduce((sum, g) => sum + g.end - g.start, 0), processMs: covered(inGaps), byLabel };
  });
  const gapLabels = [...new Set(outsideTasks.flatMap((o) => [...o.byLabel.keys()]))]
    .map((label) => ({ label, ms: median(outsideTasks.map((o) => o.byLabel.get(label) ?? 0)) }))
    .sort((a, b) => b.ms - a.ms).filter((r) => r.ms >= 5);
  return [
    `child processes: ${procCount} per run, wall time by command`,
    ...lines,
    `${'  no child process running (JS, in-process fs work)'.padEnd(58)} ${seconds(noChild).padStart(8)}  ${((100 * noChild) / total).toFixed(0).padStart(3)}%`,
    `${'time outside the top-level tasks'.padEnd(58)} ${seconds(median(outsideTasks.map((o) => o.gapMs))).padStart(8)}`,
    ...gapLabels.map((r) => `${`  of it: ${r.label}`.padEnd(58)} ${seconds(r.ms).padStart(8)}`),
    `${'  of it: no child process running'.padEnd(58)} ${seconds(median(outsideTasks.map((o) => o.gapMs - o.processMs))).padStart(8)}`,
  ].join('\n');
}

interface Interval {
  start: number;
  end: number;
}

interface Node {
  title: string;
  /** Per profile: the intervals this task ran in (one per time it ran). */
  runs: Interval[][];
  order: number;
  children: Map<string, Node>;
}

const length = (ivs: readonly Interval[]): number => ivs.reduce((sum, iv) => sum + iv.end - iv.start, 0);

/** `ivs` minus `holes`. */
function subtract(ivs: readonly Interval[], holes: readonly Interval[]): Interval[] {
  let out = [...ivs];
  for (const h of holes) {
    out = out.flatMap((iv) => {
      if (h.end <= iv.start || h.start >= iv.end) return [iv];
      return [{ start: iv.start, end: h.start }, { start: h.end, end: iv.end }].filter((x) => x.end > x.start);
    });
  }
  return out;
}

/** Time within `ivs` during which no child process ran. */
function noProcess(ivs: readonly Interval[], processes: readonly Interval[]): number {
  return length(subtract(ivs, processes));
}

/**
 * One line per phase (median over the runs): wall time, share of the total, and the part of it during which no
 * child process ran (JavaScript and in-process file system work). Children are indented below their parent; at
 * each level, "(outside tasks)" is the time no child task covers.
 */
export function formatBreakdown(profiles: readonly EngineProfile[], extra: { label: string; ms: number }[] = []): string {
  if (profiles.length === 0) return '';
  const root: Node = { title: 'total (engine, in-process)', runs: profiles.map((p) => [{ start: 0, end: p.totalMs }]), order: 0, children: new Map() };
  const keyOf = (s: Span): string => [...s.path, s.title].join('\u0000');
  let order = 0;
  const firstSeen = new Map<string, number>();
  for (const p of profiles) {
    for (const s of [...p.spans].sort((a, b) => a.start - b.start)) if (!firstSeen.has(keyOf(s))) firstSeen.set(keyOf(s), order++);
  }
  for (const [key, seen] of [...firstSeen].sort((a, b) => a[1] - b[1])) {
    const parts = key.split('\u0000');
    let node = root;
    for (const part of parts.slice(0, -1)) node = node.children.get(part) ?? node;
    const title = parts.at(-1)!;
    const runs = profiles.map((p) => p.spans.filter((s) => keyOf(s) === key).map((s) => ({ start: s.start, end: s.end })));
    node.children.set(title, { title, runs, order: seen, children: new Map() });
  }
  const total = median(profiles.map((p) => p.totalMs));
  const width = 56;
  const lines = [`${'phase'.padEnd(width)} ${'wall'.padStart(8)} ${'share'.padStart(5)} ${'no-proc'.padStart(8)}`];
  const row = (label: string, runs: readonly Interval[][], showShare: boolean): void => {
    const ms = median(runs.map(length));
    const js = median(runs.map((ivs, i) => noProcess(ivs, profiles[i]!.processes)));
    const cut = label.length > width ? `${label.slice(0, width - 1)}…` : label.padEnd(width);
    lines.push(`${cut} ${seconds(ms).padStart(8)} ${showShare ? `${((100 * ms) / total).toFixed(0)}%`.padStart(5) : ''.padStart(5)} ${seconds(js).padStart(8)}`);
  };
  const show = (node: Node, depth: number): void => {
    row(`${'  '.repeat(depth)}${node.title}`, node.runs, depth > 0);
    const kids = [...node.children.values()].sort((a, b) => a.order - b.order);
    for (const kid of kids) show(kid, depth + 1);
    if (kids.length > 0) {
      const gaps = node.runs.map((ivs, i) => subtract(ivs, kids.flatMap((k) => k.runs[i] ?? [])));
      row(`${'  '.repeat(depth + 1)}(outside tasks)`, gaps, true);
    }
  };
  show(root, 0);
  for (const e of extra) lines.push(`${e.label.padEnd(width)} ${seconds(e.ms).padStart(8)}`);
  return lines.join('\n');
}

/** The raw side's steps, median over its runs. */
export function formatRawPhases(runs: readonly (readonly [string, number][])[]): string {
  const names: string[] = [];
  for (const r of runs) for (const [name] of r) if (!names.includes(name)) names.push(name);
  const totals = runs.map((r) => r.reduce((sum, [, ms]) => sum + ms, 0));
  const lines = names.map((name) => {
    const m = median(runs.map((r) => r.filter(([n]) => n === name).reduce((sum, [, ms]) => sum + ms, 0)));
    return `${`  ${name}`.padEnd(58)} ${seconds(m).padStart(8)}  ${((100 * m) / median(totals)).toFixed(0).padStart(3)}%`;
  });
  return [`${'total (raw tools)'.padEnd(58)} ${seconds(median(totals)).padStart(8)}`, ...lines].join('\n');
}
