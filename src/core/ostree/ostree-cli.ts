import { run, runUnchecked, type ExecOptions, type ExecResult } from '../../lib/exec.js';

/**
 * Every OSTree operation goes through the `ostree` command: Node has no libostree binding, and the CLI is the
 * interface that is stable across ostree 2022.7 (bookworm) and 2025.2 (trixie).
 */
export function ostree(args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
  return run(['ostree', ...args], opts);
}

export function ostreeUnchecked(args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
  return runUnchecked(['ostree', ...args], opts);
}
