/**
 * A treefile's apt repositories, resolved into what mmdebstrap is given (one-line sources it can fetch from the
 * build host) and what the image keeps (deb822 sources under /etc/apt/sources.list.d, with its own keyrings).
 * `uri: default` is the Debian archive address of the build host's apt sources: no address is written in a
 * treefile or in this code.
 */
import { basename } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { DEBIAN_ARCHIVE_KEYRING, hostDebianArchive, type DebianArchive } from './archive-sources.js';
import type { Treefile } from './treefile/index.js';

export interface ResolvedRepo {
  /** Name of the image's sources file (`<name>.sources`) and of its keyring. */
  name: string;
  uri: string;
  suites: string[];
  components: string[];
  /** Keyring on the build host that verifies the repository. */
  keyring?: string | undefined;
  /** Where the image finds that keyring (a copy under /etc/apt/keyrings, or the package-owned Debian keyring). */
  imageKeyring?: string | undefined;
  trusted: boolean;
  /** Index of the treefile's `repos` entry it comes from, for error positions. */
  origin: number;
}

type TreefileRepo = Treefile['repos'][number];

/** Resolves `uri: default` (once) and the defaults of suites and components. */
export async function resolveRepos(treefile: Treefile, archive?: () => Promise<DebianArchive>): Promise<ResolvedRepo[]> {
  const findArchive = archive ?? hostDebianArchive;
  let host: DebianArchive | undefined;
  const repos: ResolvedRepo[] = [];
  const used = new Set<string>();
  const uniqueName = (wanted: string): string => {
    let name = wanted;
    for (let i = 2; used.has(name); i++) name = `${wanted}-${i}`;
    used.add(name);
    return name;
  };
  for (const [origin, repo] of treefile.repos.entries()) {
    if (repo.uri === 'default') {
      host ??= await findArchive();
      repos.push(...defaultRepos(treefile, repo, host, uniqueName).map((r) => ({ ...r, origin })));
      continue;
    }
    repos.push({
      name: uniqueName(repo.name ?? nameFromUri(repo.uri)),
      uri: repo.uri.replace(/\/+$/, ''),
      suites: repo.suites,
      components: repo.components,
      keyring: repo['signed-by'],
      imageKeyring: repo['signed-by'] === undefined ? undefined : `/etc/apt/keyrings/${uniqueKeyringName(repo['signed-by'])}`,
      trusted: repo.trusted,
      origin,
    });
  }
  if (repos.length === 0) {
    throw new AptOstreeError('treefile-invalid', 'the treefile lists no apt repository', 'add `repos:` or leave it out to use the Debian archive');
  }
  return repos;
}

function defaultRepos(treefile: Treefile, repo: TreefileRepo, host: DebianArchive, uniqueName: (n: string) => string): Omit<ResolvedRepo, 'origin'>[] {
  const components = repo.components;
  const keyring = repo['signed-by'] ?? host.keyring;
  // The image verifies the archive with its own debian-archive-keyring (a required package), not the host's file.
  const imageKeyring = repo['signed-by'] === undefined ? DEBIAN_ARCHIVE_KEYRING : `/etc/apt/keyrings/${uniqueKeyringName(keyring)}`;
  const suites = repo.suites;
  const out: Omit<ResolvedRepo, 'origin'>[] = [{
    name: uniqueName(repo.name ?? 'debian'), uri: host.mirror, suites, components, keyring, imageKeyring, trusted: repo.trusted,
  }];
  // Security updates come from their own archive (another address): added when the suites are the default pair.
  const defaultSuites = suites.length === 2 && suites[0] === treefile.release && suites[1] === `${treefile.release}-updates`;
  if (defaultSuites && host.securityMirror !== undefined) {
    out.push({
      name: uniqueName(`${repo.name ?? 'debian'}-security`), uri: host.securityMirror, suites: [`${treefile.release}-security`],
      components, keyring, imageKeyring, trusted: repo.trusted,
    });
  }
  return out;
}

function nameFromUri(uri: string): string {
  const name = uri.replace(/^[a-z]+:\/+/, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(-40);
  return name === '' ? 'repo' : name;
}

function uniqueKeyringName(path: string): string {
  return basename(path).replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * One-line sources for mmdebstrap, one suite per line. file:// becomes copy://: mmdebstrap's apt fetches into the
 * new root, where a file:// path would not resolve.
 */
export function mmdebstrapSourceLines(repos: readonly ResolvedRepo[]): string[] {
  return repos.flatMap((r) => {
    const opts = r.trusted ? ['trusted=yes'] : r.keyring !== undefined ? [`signed-by=${r.keyring}`] : [];
    const uri = r.uri.startsWith('file://') ? `copy://${r.uri.slice('file://'.length)}` : r.uri;
    const prefix = `deb ${opts.length > 0 ? `[${opts.join(' ')}] ` : ''}${uri}`;
    return r.suites.map((suite) => `${prefix} ${suite} ${r.components.join(' ')}`);
  });
}

/** The image's deb822 sources file for one repository. */
export function imageSourcesText(repo: ResolvedRepo): string {
  return [
    '# Written by apt-ostree compose from the treefile\'s repos',
    'Types: deb',
    `URIs: ${repo.uri}`,
    `Suites: ${repo.suites.join(' ')}`,
    `Components: ${repo.components.join(' ')}`,
    ...(repo.trusted ? ['Trusted: yes'] : []),
    ...(!repo.trusted && repo.imageKeyring !== undefined ? [`Signed-By: ${repo.imageKeyring}`] : []),
    '',
  ].join('\n');
}
