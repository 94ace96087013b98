/**
 * The lines tests/vm/guest/run.sh prints on the guest's second serial port, and what the host makes of them:
 *
 *   VMTEST begin PART TITLE    VMTEST pass PART WHAT    VMTEST fail PART WHAT    VMTEST end PART MILLISECONDS
 *   VMTEST phase NAME          VMTEST done NAME         VMTEST alive UPTIME
 *
 * A part passes when it began, ended, has at least one pass and no fail: a guest that died halfway, or a part the
 * script never reached, is a failure too.
 */

export interface PartResult {
  part: string;
  title: string;
  passes: string[];
  fails: string[];
  /** Guest-side duration; undefined when the part never ended. */
  ms: number | undefined;
}

export interface BootLog {
  phase: string | undefined;
  done: boolean;
  parts: Map<string, PartResult>;
  /** Every line of the serial port, in order (for artifacts and failure messages). */
  lines: string[];
}

export function newBootLog(): BootLog {
  return { phase: undefined, done: false, parts: new Map(), lines: [] };
}

const LINE = /^VMTEST (begin|pass|fail|end|phase|done|alive)(?: (\S+))?(?: (.*))?$/;

/** Takes one line of the serial port; returns the protocol event it was, if any. */
export function feedLine(log: BootLog, raw: string): string | undefined {
  const line = raw.replace(/\r$/, '');
  log.lines.push(line);
  const m = LINE.exec(line);
  if (!m) return undefined;
  const [, kind, arg = '', rest = ''] = m;
  const part = (): PartResult => {
    let p = log.parts.get(arg);
    if (!p) {
      p = { part: arg, title: '', passes: [], fails: [], ms: undefined };
      log.parts.set(arg, p);
    }
    return p;
  };
  switch (kind) {
    case 'phase': log.phase = arg; break;
    case 'done': log.done = true; break;
    case 'begin': part().title = rest; break;
    case 'pass': part().passes.push(rest); break;
    case 'fail': part().fails.push(rest); break;
    case 'end': part().ms = Number(rest); break;
    default: break;
  }
  return kind;
}

export function partPassed(p: PartResult | undefined): boolean {
  return p !== undefined && p.ms !== undefined && p.fails.length === 0 && p.passes.length > 0;
}

/** Why a part failed, in one line. */
export function partProblem(p: PartResult | undefined): string {
  if (p === undefined) return 'never started';
  if (p.fails.length > 0) return p.fails.join('; ');
  if (p.ms === undefined) return 'did not finish';
  return 'no check passed';
}

/** The serial port's lines of one part: its begin line to its end line (for failure messages). */
export function partOutput(log: BootLog, part: string): string[] {
  const start = log.lines.findIndex((l) => l.startsWith(`VMTEST begin ${part} `) || l === `VMTEST begin ${part}`);
  if (start < 0) return [];
  const stop = log.lines.findIndex((l, i) => i > start && l.startsWith(`VMTEST end ${part} `));
  return log.lines.slice(start, stop < 0 ? undefined : stop + 1).filter((l) => !l.startsWith('VMTEST alive'));
}
