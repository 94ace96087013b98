/** Looking up packages in the environment's lists: `apt-ostree search` and candidate versions. */
import { parseDeb822, type Deb822Paragraph } from '../../lib/deb822.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { AptEnvironment } from './apt-env.js';
import { parsePackageName } from './package-request.js';
import { showRecords, summaryOf } from './package-records.js';

export interface PackageSummary {
  name: string;
  version: string;
  arch: string;
  summary: string;
}

/**
 * Packages whose name or description contains every term (case-insensitive), sorted by name. Terms are plain text:
 * apt-cache would read them as regular expressions, so they are escaped.
 */
export async function searchPackages(env: AptEnvironment, terms: readonly string[], opts: { signal?: AbortSignal } = {}):
  Promise<PackageSummary[]> {
  if (terms.length === 0) throw new AptOstreeError('usage', 'nothing to search for', 'give one or more words');
  for (const term of terms) {
    if (term.trim() === '' || /\p{Cc}/u.test(term)) {
      throw new AptOstreeError('invalid-argument', `invalid search term ${JSON.stringify(term)}`, 'search for words without control characters');
    }
  }
  // --full gives whole records (with the candidate version) instead of "name - summary" lines.
  const { stdout } = await env.aptCache(['-q', 'search', '--full', '--', ...terms.map(escapeRegex)],
    opts.signal ? { signal: opts.signal } : {});
  const seen = new Set<string>();
  const found: PackageSummary[] = [];
  for (const record of parseDeb822(stdout, { source: 'apt-cache search' })) {
    const summary = toSummary(record);
    const key = `${summary.name}:${summary.arch}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push(summary);
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** POSIX extended regular expression metacharacters, as apt-cache search compiles its terms. */
export function escapeRegex(term: string): string {
  return term.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&');
}

/** The version apt would install for each name (`name` or `name:arch`); null for names without a candidate. */
export async function showCandidates(env: AptEnvironment, names: readonly string[], opts: { signal?: AbortSignal } = {}):
  Promise<Map<string, PackageSummary | null>> {
  const requests = names.map((n) => parsePackageName(n));
  const records = await showRecords(env, requests.map((r) => (r.arch === undefined ? r.name : `${r.name}:${r.arch}`)), opts);
  const result = new Map<string, PackageSummary | null>();
  for (const [i, request] of requests.entries()) {
    const record = records.find((r) => r.get('Package')?.trim() === request.name
      && (request.arch === undefined || [request.arch, 'all'].includes(r.get('Architecture')?.trim() ?? '')));
    result.set(names[i] ?? request.name, record ? toSummary(record) : null);
  }
  return result;
}

function toSummary(record: Deb822Paragraph): PackageSummary {
  return {
    name: record.get('Package')?.trim() ?? '',
    version: record.get('Version')?.trim() ?? '',
    arch: record.get('Architecture')?.trim() ?? '',
    summary: summaryOf(record),
  };
}
