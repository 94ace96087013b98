import { AptOstreeError } from '../../../lib/errors.js';
import type { LayeringRequests } from '../../layering-requests.js';

/** A request's package name: `name`, `name=version`, `name:arch`, or the name part of `sha256:<hex>:<name>`. */
export function requestName(request: string): string {
  if (request.startsWith('sha256:')) return request.split(':')[2] ?? request;
  if (request.startsWith('file:')) return request.split(':')[1] ?? request;
  return request.split('=')[0]?.split(':')[0] ?? request;
}

/**
 * A local .deb: `sha256:<hex>:<name>` once stored in the stateroot, or `file:<name>:<path>` for a dry run, which
 * must not store anything.
 */
export function isLocalRequest(request: string): boolean {
  return request.startsWith('sha256:') || request.startsWith('file:');
}

export interface InstallChange {
  /** Already validated `name[:arch][=version]` requests. */
  names: string[];
  /** Local .debs already stored, as `sha256:<hex>:<name>`. */
  locals: string[];
  idempotent: boolean;
}

/** Adds install requests; asking twice for the same package is an error unless --idempotent. */
export function addInstalls(current: LayeringRequests, change: InstallChange): LayeringRequests {
  const next = { ...current, packages: [...current.packages], localPackages: [...current.localPackages] };
  const requested = new Set([...next.packages, ...next.localPackages].map(requestName));
  for (const r of [...change.names, ...change.locals]) {
    const name = requestName(r);
    if (requested.has(name)) {
      if (change.idempotent) continue;
      throw new AptOstreeError('already-requested', `package ${name} is already requested`,
        'see `apt-ostree status`; pass --idempotent to accept this');
    }
    requested.add(name);
    if (isLocalRequest(r)) next.localPackages.push(r); else next.packages.push(r);
  }
  return next;
}

/** Drops install requests by package name; a name that was never requested is an error unless --idempotent. */
export function removeInstalls(current: LayeringRequests, names: readonly string[], idempotent: boolean): LayeringRequests {
  const wanted = new Set(names);
  const known = new Set([...current.packages, ...current.localPackages].map(requestName));
  for (const name of wanted) {
    if (!known.has(name) && !idempotent) {
      throw new AptOstreeError('not-requested', `package ${name} is not a layered package`,
        `layered: ${[...known].join(', ') || 'none'}; to remove a base package use \`apt-ostree override remove ${name}\``);
    }
  }
  return {
    ...current,
    packages: current.packages.filter((r) => !wanted.has(requestName(r))),
    localPackages: current.localPackages.filter((r) => !wanted.has(requestName(r))),
  };
}

export interface OverrideChange {
  remove: string[];
  /** `name=version` or `sha256:<hex>:<name>`. */
  replace: string[];
  reset: string[];
  resetAll: boolean;
}

/** Overrides act on base packages only; each name may be overridden once. */
export function changeOverrides(current: LayeringRequests, change: OverrideChange, basePackages: ReadonlySet<string>): LayeringRequests {
  let removals = change.resetAll ? [] : [...current.removals];
  let replacements = change.resetAll ? [] : [...current.replacements];
  for (const name of change.reset) {
    const had = removals.some((r) => r === name) || replacements.some((r) => requestName(r) === name);
    if (!had) {
      throw new AptOstreeError('not-overridden', `package ${name} has no override`,
        'see the overrides with `apt-ostree status`');
    }
    removals = removals.filter((r) => r !== name);
    replacements = replacements.filter((r) => requestName(r) !== name);
  }
  const overridden = (): Set<string> => new Set([...removals, ...replacements.map(requestName)]);
  for (const name of change.remove) {
    if (!basePackages.has(name)) {
      throw new AptOstreeError('not-in-base', `package ${name} is not in the base image`,
        'override remove only removes base packages; for layered ones use `apt-ostree uninstall`');
    }
    if (overridden().has(name)) throw alreadyOverridden(name);
    removals.push(name);
  }
  for (const r of change.replace) {
    const name = requestName(r);
    if (!basePackages.has(name)) {
      throw new AptOstreeError('not-in-base', `package ${name} is not in the base image`,
        'override replace swaps the version of a base package; to add a package use `apt-ostree install`');
    }
    if (overridden().has(name)) throw alreadyOverridden(name);
    replacements.push(r);
  }
  return { ...current, removals, replacements };
}

function alreadyOverridden(name: string): AptOstreeError {
  return new AptOstreeError('already-overridden', `package ${name} already has an override`,
    `reset it first with \`apt-ostree override reset ${name}\``);
}
