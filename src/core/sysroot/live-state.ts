/**
 * What `apply-live` did to the running system, kept in /run: the live changes go away with the transient /usr
 * overlay at the next boot, and so must the record of them. rpm-ostree's status shows the same two facts as
 * `live-inprogress` (a run that has not finished: the running system is between two commits) and `live-replaced`
 * (the commit whose packages the running system has now).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Deployment } from './deployment.js';

export interface LiveState {
  /** The commit whose /usr was applied to the running system last. */
  commit?: string | undefined;
  /** The commit being applied; set while apply-live copies files, so an interruption is visible. */
  inprogress?: string | undefined;
}

function stateFile(d: Pick<Deployment, 'checksum' | 'serial'>): string {
  return join(process.env.APT_OSTREE_RUNDIR ?? '/run/apt-ostree', 'live', `${d.checksum}.${d.serial}.json`);
}

/** The live state of the booted deployment; empty for any other (its /usr is not the running one). */
export async function readLiveState(d: Deployment): Promise<LiveState> {
  if (!d.booted) return {};
  try {
    const parsed = JSON.parse(await readFile(stateFile(d), 'utf8')) as Record<string, unknown>;
    const str = (v: unknown): string | undefined => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : undefined);
    return { commit: str(parsed.commit), inprogress: str(parsed.inprogress) };
  } catch {
    return {};
  }
}

export async function writeLiveState(d: Deployment, state: LiveState): Promise<void> {
  const file = stateFile(d);
  await mkdir(join(file, '..'), { recursive: true, mode: 0o755 });
  await writeFile(`${file}.tmp`, `${JSON.stringify(state)}\n`);
  await rename(`${file}.tmp`, file);
}
