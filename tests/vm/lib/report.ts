/**
 * The suite's report: a summary table of the steps (result and guest-side time) and of the boots, and, for a
 * failure, the guest's output of the failed part and the tail of the console.
 */
import { readFile } from 'node:fs/promises';
import { PHASES, STEPS, stepOf } from './guest-script.js';
import { bootCompleted, type BootRecord } from './machine.js';
import { partOutput, partPassed, partProblem, type PartResult } from './protocol.js';

export interface PartView {
  part: string;
  phase: string;
  result: PartResult | undefined;
  boot: BootRecord | undefined;
}

/** Every planned part with what the guest said about it (nothing, when its boot never happened). */
export function planView(boots: readonly BootRecord[]): PartView[] {
  return PHASES.flatMap((phase) => {
    const boot = boots.find((b) => b.phase === phase.name);
    return phase.parts.map((part) => ({ part, phase: phase.name, result: boot?.log.parts.get(part), boot }));
  });
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)}s`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function summaryTable(boots: readonly BootRecord[], totalMs: number, about: string): string {
  const view = planView(boots);
  const stepRows = STEPS.map(({ step, title }) => {
    const parts = view.filter((v) => stepOf(v.part) === step);
    const ok = parts.every((p) => partPassed(p.result));
    const ms = parts.reduce((sum, p) => sum + (p.result?.ms ?? 0), 0);
    const detail = parts.map((p) => `${p.part} ${partPassed(p.result) ? 'ok' : 'FAIL'} ${seconds(p.result?.ms ?? 0)}`).join(', ');
    return [step, ok ? 'PASS' : 'FAIL', seconds(ms), title, `(${detail})`];
  });
  const bootRows = boots.map((b) => [String(b.index), b.phase, b.bootSeconds === undefined ? '-' : `${b.bootSeconds.toFixed(0)}s`,
    `${b.run.seconds.toFixed(0)}s`, bootCompleted(b) ? 'ok' : `${b.run.outcome}${b.log.done ? '' : ', guest script unfinished'}`]);
  return [
    `VM test summary (${about}; guest-side time of each step, boots separately)`,
    table([['step', 'result', 'time', 'what', 'parts'], ...stepRows]),
    '',
    table([['boot', 'phase', 'up after', 'qemu total', 'outcome'], ...bootRows]),
    `total ${seconds(totalMs)}`,
  ].join('\n');
}

export async function tail(file: string, lines: number): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  // The console is full of terminal control sequences (colours, cursor moves).
  const escape = String.fromCharCode(27);
  return text.replace(/\r/g, '').replace(new RegExp(`${escape}\\[[0-9;?]*[A-Za-z]`, 'g'), '').split('\n').slice(-lines).join('\n');
}

/**
 * What a failed step needs in its message: the parts' problems and their guest output, and the tail of the console
 * of the boot that ran them (of the last boot, for parts no boot reached).
 */
export async function failureDetail(parts: readonly PartView[], boots: readonly BootRecord[], artifacts: string): Promise<string> {
  const out: string[] = [];
  const failed = parts.filter((v) => !partPassed(v.result));
  for (const p of failed) {
    out.push(`part ${p.part} (${p.phase} boot): ${partProblem(p.result)}`);
    if (p.boot !== undefined) out.push(...partOutput(p.boot.log, p.part).slice(-60).map((l) => `  | ${l}`));
  }
  const consoleOf = failed.find((p) => p.boot !== undefined)?.boot ?? boots.at(-1);
  if (consoleOf !== undefined) {
    const lines = bootCompleted(consoleOf) ? 15 : 40;
    const { run } = consoleOf;
    if (run.outcome === 'poweroff' && run.code !== 0) out.push(`qemu exited with status ${run.code}: ${run.stderr.trim()}`);
    out.push(`boot ${consoleOf.index} (${consoleOf.phase}): ${run.outcome} after ${run.seconds.toFixed(0)}s;`
      + ` last console lines (${consoleOf.consoleLog}):`, ...(await tail(consoleOf.consoleLog, lines)).split('\n').map((l) => `  > ${l}`));
  }
  out.push(`artifacts (console ttyS0 and test output ttyS1 of every boot): ${artifacts}`);
  return out.join('\n');
}
