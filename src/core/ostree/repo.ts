import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { pathExists } from '../../lib/fs.js';
import { ostree, ostreeUnchecked } from './ostree-cli.js';

export interface CommitInfo {
  checksum: string;
  parent: string | undefined;
  /** Seconds since the epoch (ostree shows the commit date to the second). */
  timestamp: number;
  version: string | undefined;
  subject: string;
}

const CHECKSUM = /^[0-9a-f]{64}$/;

export function isChecksum(text: string): boolean {
  return CHECKSUM.test(text);
}

/** Resolves a ref, a remote:ref or a (partial) checksum to a full checksum; undefined when nothing matches. */
export async function revParse(repo: string, rev: string): Promise<string | undefined> {
  const r = await ostreeUnchecked(['rev-parse', `--repo=${repo}`, rev]);
  const out = r.stdout.trim();
  return r.code === 0 && isChecksum(out) ? out : undefined;
}

/** Whether the commit object is in the repository (rev-parse accepts any well-formed checksum). */
export async function hasCommit(repo: string, checksum: string): Promise<boolean> {
  if (!isChecksum(checksum)) return false;
  return pathExists(join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.commit`));
}

export async function commitInfo(repo: string, checksum: string): Promise<CommitInfo> {
  const r = await ostree(['show', `--repo=${repo}`, checksum]);
  return parseShow(r.stdout);
}

export function parseShow(text: string): CommitInfo {
  const lines = text.split('\n');
  const field = (name: string): string | undefined =>
    lines.find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
  const checksum = /^commit ([0-9a-f]{64})/.exec(lines[0] ?? '')?.[1];
  if (checksum === undefined) throw new AptOstreeError('internal', 'unexpected output of ostree show');
  const date = field('Date');
  const subjectLine = lines.findIndex((l) => l === '' ) + 1;
  return {
    checksum,
    parent: field('Parent'),
    timestamp: date ? Math.floor(Date.parse(date.replace(' ', 'T').replace(/ ([+-]\d\d)(\d\d)$/, '$1:$2')) / 1000) : 0,
    version: field('Version'),
    subject: (lines[subjectLine] ?? '').trim(),
  };
}

/** A metadata string of a commit (e.g. `version`, `apt-ostree.base`), undefined when absent. */
export async function commitMetadataString(repo: string, checksum: string, key: string): Promise<string | undefined> {
  const r = await ostreeUnchecked(['show', `--repo=${repo}`, `--print-metadata-key=${key}`, checksum]);
  if (r.code !== 0) return undefined;
  return parseGVariantString(r.stdout.trim());
}

/** ostree prints metadata as GVariant text: `'value'` (or `"value"` when it holds a single quote). */
export function parseGVariantString(text: string): string | undefined {
  const m = /^(['"])(.*)\1$/s.exec(text);
  if (m?.[2] === undefined) return undefined;
  return m[2].replace(/\\(.)/g, '$1');
}

export async function listRefs(repo: string, prefix?: string): Promise<string[]> {
  const r = await ostree(['refs', `--repo=${repo}`, ...(prefix ? [prefix] : [])]);
  return r.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

/** The history of a ref from its tip back through parents that are present locally. */
export async function commitHistory(repo: string, tip: string, limit = 100): Promise<CommitInfo[]> {
  const history: CommitInfo[] = [];
  let next: string | undefined = tip;
  while (next !== undefined && history.length < limit) {
    const r = await ostreeUnchecked(['show', `--repo=${repo}`, next]);
    if (r.code !== 0) break;
    const info = parseShow(r.stdout);
    history.push(info);
    next = info.parent;
  }
  return history;
}
