import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../../lib/errors.js';
import { ExecError } from '../../../lib/exec.js';
import { ostree } from '../../ostree/ostree-cli.js';

/** ostree names deltas by checksums in its "modified base64": `/` becomes `_`, no padding. */
function modifiedBase64(checksum: string): string {
  return Buffer.from(checksum, 'hex').toString('base64').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * `deltas/<2>/<rest>-<to>` for FROM→TO, `deltas/<2>/<rest>` of TO for a from-scratch one: where a delta lives in a
 * repository (the layout every ostree since 2016 uses).
 */
export function deltaDirectory(repo: string, from: string | undefined, to: string): string {
  const t = modifiedBase64(to);
  if (from === undefined) return join(repo, 'deltas', t.slice(0, 2), t.slice(2));
  const f = modifiedBase64(from);
  return join(repo, 'deltas', f.slice(0, 2), `${f.slice(2)}-${t}`);
}

export interface DeltaId {
  /** undefined for a from-scratch delta. */
  from: string | undefined;
  to: string;
}

export async function listDeltas(repo: string): Promise<DeltaId[]> {
  const out = (await ostree(['static-delta', 'list', `--repo=${repo}`])).stdout;
  const ids: DeltaId[] = [];
  for (const line of out.split('\n')) {
    const m = /^(?:([0-9a-f]{64})-)?([0-9a-f]{64})$/.exec(line.trim());
    if (m?.[2]) ids.push({ from: m[1], to: m[2] });
  }
  return ids;
}

/** The size of a delta (superblock and parts), or undefined when there is none. */
export async function deltaSize(repo: string, from: string | undefined, to: string): Promise<number | undefined> {
  const dir = deltaDirectory(repo, from, to);
  try {
    await access(join(dir, 'superblock'));
  } catch {
    return undefined;
  }
  let size = 0;
  for (const name of await readdir(dir)) size += (await stat(join(dir, name))).size;
  return size;
}

/**
 * Objects a delta leaves out (files above ostree's fallback size): clients fetch them one by one, so they count in
 * what an update through the delta downloads.
 */
export async function deltaFallback(repo: string, from: string | undefined, to: string): Promise<{ objects: number; size: number }> {
  const out = (await ostree(['static-delta', 'show', `--repo=${repo}`, from === undefined ? to : `${from}-${to}`])).stdout;
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  return { objects: num(/^Number of fallback entries:\s*(\d+)/m), size: num(/^Total Fallback Size:\s*(\d+)/m) };
}

export async function generateDelta(repo: string, from: string | undefined, to: string, signal?: AbortSignal): Promise<number> {
  const id = from === undefined ? to : `${from}-${to}`;
  try {
    // A delta carries a copy of the target's detached metadata (its signatures): one made before the last
    // signature would make verifying clients fail, so an outdated delta is replaced, never kept.
    if (await deltaSize(repo, from, to) !== undefined) {
      await ostree(['static-delta', 'delete', `--repo=${repo}`, id], { signal });
    }
    await ostree(['static-delta', 'generate', `--repo=${repo}`, from === undefined ? '--empty' : `--from=${from}`, `--to=${to}`], { signal });
  } catch (err) {
    if (err instanceof ExecError) {
      throw new AptOstreeError('compose-failed',
        `generating the static delta ${from?.slice(0, 12) ?? 'scratch'} → ${to.slice(0, 12)} failed: ${oneLine(err.result.stderr.trim()).slice(0, 300)}`,
        'check the repository with `ostree fsck`; the commits and refs were not changed');
    }
    throw err;
  }
  const size = await deltaSize(repo, from, to);
  if (size === undefined) throw new AptOstreeError('internal', `ostree generated no delta ${id}`);
  return size;
}
