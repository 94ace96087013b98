import type { Treefile } from './types.js';

/** The value of every key a treefile may leave out; also shown as `default` in data/treefile.schema.json. */
export const DEFAULTS = {
  release: 'trixie',
  variant: 'minbase',
  'bootstrap-mode': 'root',
  recommends: false,
  documentation: true,
  initramfs: 'dracut',
  users: 'sysusers',
  'machineid-compat': true,
  components: ['main'],
} as const satisfies Partial<Record<keyof Treefile | 'components', unknown>>;

/** What `repos` means when no treefile sets it: the host's Debian archive. */
export const DEFAULT_REPO_URI = 'default';

// Development suites have no -updates suite; asking for one would make the bootstrap fail.
const NO_UPDATES = new Set(['sid', 'unstable', 'experimental', 'rc-buggy']);

/** The suites of a repository that does not list them. */
export function defaultSuites(uri: string, release: string): string[] {
  if (uri !== DEFAULT_REPO_URI || NO_UPDATES.has(release)) return [release];
  return [release, `${release}-updates`];
}
