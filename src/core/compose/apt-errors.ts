/**
 * apt's failures in a compose, as apt-ostree errors with the treefile position they come from: the resolution
 * (resolve-packages.ts, which runs first and so reports nearly all of them) and mmdebstrap (bootstrap.ts, for
 * `compose install` alone and for what only the build meets) read apt's output through this one mapper.
 */
import { AptOstreeError } from '../../lib/errors.js';
import type { ResolvedRepo } from './repos.js';
import type { LoadedTreefile } from './treefile/index.js';

export interface AptErrorContext {
  loaded: LoadedTreefile;
  repos: readonly ResolvedRepo[];
  /** Said in the hints: where the full output is. */
  log?: string | undefined;
}

const MISSING = /Unable to locate package ([^\s']+)|Package '?([^\s']+?)'? has no installation candidate|Version '[^']*' for '([^']+)' was not found/;
const SIGNATURE = /NO_PUBKEY|EXPKEYSIG|is not signed|signatures were invalid|signatures couldn't be verified/;
const FETCH = /Failed to fetch|Could not resolve|Could not connect|Unable to connect|Connection refused|does not have a Release file|404\s+Not Found|^Err:/i;

export function treefilePosition(loaded: LoadedTreefile, path: readonly (string | number)[]): string {
  const w = loaded.where(path);
  return w === undefined ? '' : `${w}: `;
}

/** unknown-package, signature-invalid or repository-unreachable when apt's output says so, else undefined. */
export function aptFailure(ctx: AptErrorContext, lines: readonly string[]): AptOstreeError | undefined {
  const tf = ctx.loaded.treefile;
  const logHint = ctx.log === undefined ? '' : `; the full log is ${ctx.log}`;
  for (const line of lines) {
    const m = MISSING.exec(line);
    const name = m?.[1] ?? m?.[2] ?? m?.[3];
    if (name === undefined) continue;
    const i = tf.packages.findIndex((p) => p === name || p.startsWith(`${name}=`));
    return new AptOstreeError('unknown-package',
      `${treefilePosition(ctx.loaded, ['packages', i < 0 ? 0 : i])}package ${name} is not in the treefile's repositories`,
      `check the name and version (\`apt-cache policy NAME\` against the same repositories), the release and components${logHint}`);
  }
  const signature = lines.find((l) => SIGNATURE.test(l));
  if (signature !== undefined) {
    return new AptOstreeError('signature-invalid', `${repoPosition(ctx, signature)}apt can not verify a repository: ${clean(signature)}`,
      `set signed-by to the repository's keyring (or trusted: true for a local test repository)${logHint}`);
  }
  const fetch = lines.find((l) => FETCH.test(l));
  if (fetch !== undefined) {
    return new AptOstreeError('repository-unreachable', `${repoPosition(ctx, fetch)}a repository can not be read: ${clean(fetch)}`,
      `check the address, the suites and components, and the network${logHint}`);
  }
  return undefined;
}

/** repository-unreachable for an `apt-get update` that failed without saying why in a way aptFailure knows. */
export function unreadableRepository(ctx: AptErrorContext, line: string): AptOstreeError {
  return new AptOstreeError('repository-unreachable', `${repoPosition(ctx, line)}a repository can not be read: ${clean(line)}`,
    'check the address, the suites and components, and the network');
}

function clean(line: string): string {
  return line.replace(/^(E|W|Err): ?/, '').trim().slice(0, 300);
}

/** The treefile position of the repository a line names (the only one when there is one). */
function repoPosition(ctx: AptErrorContext, line: string): string {
  const hostOf = (uri: string): string => uri.replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, '').split('/')[0] ?? uri;
  // mmdebstrap names a file:// repository copy:// (repos.ts): its path is what both say.
  const named = (r: ResolvedRepo): boolean => line.includes(r.uri)
    || (r.uri.startsWith('file://') ? line.includes(r.uri.slice('file://'.length)) : line.includes(hostOf(r.uri)));
  const repo = ctx.repos.find(named)
    ?? (ctx.repos.length === 1 ? ctx.repos[0] : undefined);
  return repo === undefined ? '' : treefilePosition(ctx.loaded, ['repos', repo.origin, 'uri']);
}
