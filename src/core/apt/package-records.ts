/** Package records (the Packages-file paragraphs) as apt knows them, by `apt-cache show`. */
import { parseDeb822, type Deb822Paragraph } from '../../lib/deb822.js';
import type { AptEnvironment } from './apt-env.js';

/**
 * Records for `name`, `name:arch`, `name=version` or local .deb paths. Names apt does not know are left out
 * (apt-cache only notes them), so callers match the records they get back by Package and Version.
 */
export async function showRecords(env: AptEnvironment, specs: readonly string[], opts: { allVersions?: boolean; signal?: AbortSignal } = {}):
  Promise<Deb822Paragraph[]> {
  if (specs.length === 0) return [];
  const args = ['-q', 'show'];
  if (!opts.allVersions) args.push('--no-all-versions');
  // apt-cache exits 100 when none of the names is known; that is an empty answer here.
  const { stdout } = await env.aptCache([...args, ...specs], { okCodes: [0, 100], ...(opts.signal ? { signal: opts.signal } : {}) });
  return parseDeb822(stdout, { source: 'apt-cache show' });
}

/** The first line of a Description field. */
export function summaryOf(record: Deb822Paragraph): string {
  return (record.get('Description') ?? '').split('\n')[0]?.trim() ?? '';
}

/** How apt-get and apt-cache name one version of a package: the arch only when it is foreign. */
export function versionSpec(env: AptEnvironment, pkg: { name: string; arch: string; version: string }): string {
  const arch = pkg.arch === 'all' || pkg.arch === env.arch ? '' : `:${pkg.arch}`;
  return `${pkg.name}${arch}=${pkg.version}`;
}
