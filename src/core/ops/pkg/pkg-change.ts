import { AptOstreeError } from '../../../lib/errors.js';
import { parsePackageName, parsePackageRequest, type PackageRequest } from '../../apt/package-request.js';
import { readRequests, sameRequests, validateInitramfsArg, type LayeringRequests } from '../../layering-requests.js';
import { readCommitPackages } from '../../packages.js';
import { formatRefspec } from '../../refspec.js';
import { followedRefspec } from '../base-source.js';
import { openOs, withSysrootLock, type EngineOptions, type OsView } from '../context.js';
import { originBaseCommit } from '../upgrade.js';
import { addInstalls, changeOverrides, removeInstalls } from './change-requests.js';
import { deployLayered, type PkgChangeResult } from './deploy-layered.js';
import { storeLocalDeb } from './local-debs.js';

export interface PkgChangeRequest {
  install?: string[];
  uninstall?: string[];
  uninstallAll?: boolean;
  dryRun?: boolean;
  idempotent?: boolean;
  allowInactive?: boolean;
  /** The caller's working directory, for relative .deb paths. */
  cwd?: string;
}

export interface OverrideRequest {
  remove?: string[];
  replace?: string[];
  reset?: string[];
  resetAll?: boolean;
  dryRun?: boolean;
  cwd?: string;
}

export interface InitramfsRequest {
  /** true: regenerate the initramfs on the client (with `args`); false: go back to the base's initramfs. */
  regenerate: boolean;
  args?: string[];
}

export interface ResetRequest {
  overlays?: boolean;
  overrides?: boolean;
  initramfs?: boolean;
  dryRun?: boolean;
}

function formatNameRequest(r: PackageRequest): string {
  if (r.kind !== 'name') return r.name;
  return `${r.name}${r.arch ? `:${r.arch}` : ''}${r.version ? `=${r.version}` : ''}`;
}

/**
 * install / uninstall: the origin base's requests (the pending deployment's when there is one, so that changes made in
 * one boot stack), changed, layered on its base and deployed.
 */
export async function pkgChange(opts: EngineOptions, req: PkgChangeRequest): Promise<PkgChangeResult> {
  // Validate every name before taking the lock: bad input changes nothing.
  const parsed = await Promise.all((req.install ?? []).map((t) => parsePackageRequest(t, { cwd: req.cwd, signal: opts.signal })));
  const uninstall = (req.uninstall ?? []).map((t) => parsePackageName(t).name);
  if (parsed.length === 0 && uninstall.length === 0 && !req.uninstallAll) {
    throw new AptOstreeError('usage', 'no packages given', 'name at least one package');
  }
  return withSysrootLock(opts, describe('install', req.install) ?? describe('uninstall', req.uninstall) ?? 'uninstall --all', async () => {
    const view = await openOs(opts);
    const base = await originBaseCommit(view);
    let requests = readRequests(view.originBase.origin);
    if (req.uninstallAll) requests = { ...requests, packages: [], localPackages: [] };
    requests = removeInstalls(requests, uninstall, req.idempotent ?? false);
    if (parsed.length > 0) {
      const basePackages = new Map((await readCommitPackages(view.sysroot.repoPath, base)).map((p) => [p.name, p.version]));
      const already = parsed.filter((r) => basePackages.has(r.name) && (r.kind === 'file' || r.version === undefined || r.version === basePackages.get(r.name)));
      if (already.length > 0 && !req.allowInactive) {
        throw new AptOstreeError('already-installed',
          `already in the base image: ${already.map((r) => `${r.name} ${basePackages.get(r.name) ?? ''}`).join(', ')}`,
          'pass --allow-inactive to record the request anyway (it becomes active if a later base drops the package)');
      }
      const locals = req.dryRun ? parsed.flatMap((r) => (r.kind === 'file' ? [`file:${r.name}:${r.path}`] : []))
        : await Promise.all(parsed.flatMap((r) => (r.kind === 'file' ? [storeLocalDeb(view, r)] : [])));
      requests = addInstalls(requests, {
        names: parsed.filter((r) => r.kind === 'name').map(formatNameRequest), locals, idempotent: req.idempotent ?? false,
      });
    }
    return relayer(opts, view, base, requests, req.dryRun ?? false);
  });
}

export async function override(opts: EngineOptions, req: OverrideRequest): Promise<PkgChangeResult> {
  const remove = (req.remove ?? []).map((t) => parsePackageName(t).name);
  const replaceParsed = await Promise.all((req.replace ?? []).map((t) => parsePackageRequest(t, { cwd: req.cwd, signal: opts.signal })));
  for (const r of replaceParsed) {
    if (r.kind === 'name' && r.version === undefined) {
      throw new AptOstreeError('invalid-argument', `override replace needs a version: ${r.name}=VERSION`,
        'e.g. `apt-ostree override replace kit-libfoo1=1.1-1`, or give a local .deb');
    }
  }
  const reset = (req.reset ?? []).map((t) => parsePackageName(t).name);
  return withSysrootLock(opts, 'override', async () => {
    const view = await openOs(opts);
    const base = await originBaseCommit(view);
    const baseNames = new Set((await readCommitPackages(view.sysroot.repoPath, base)).map((p) => p.name));
    const replace = await Promise.all(replaceParsed.map((r) => {
      if (r.kind === 'name') return Promise.resolve(formatNameRequest(r));
      return req.dryRun ? Promise.resolve(`file:${r.name}:${r.path}`) : storeLocalDeb(view, r);
    }));
    const requests = changeOverrides(readRequests(view.originBase.origin), { remove, replace, reset, resetAll: req.resetAll ?? false }, baseNames);
    return relayer(opts, view, base, requests, req.dryRun ?? false);
  });
}

/** `reset`: drop layered packages (-l), overrides (-o), or everything (no flag). */
export async function reset(opts: EngineOptions, req: ResetRequest): Promise<PkgChangeResult> {
  return withSysrootLock(opts, 'reset', async () => {
    const view = await openOs(opts);
    const base = await originBaseCommit(view);
    const all = !req.overlays && !req.overrides && !req.initramfs;
    const before = readRequests(view.originBase.origin);
    const requests: LayeringRequests = {
      packages: all || req.overlays ? [] : before.packages,
      localPackages: all || req.overlays ? [] : before.localPackages,
      removals: all || req.overrides ? [] : before.removals,
      replacements: all || req.overrides ? [] : before.replacements,
      regenerateInitramfs: all || req.initramfs ? false : before.regenerateInitramfs,
      initramfsArgs: all || req.initramfs ? [] : before.initramfsArgs,
    };
    return relayer(opts, view, base, requests, req.dryRun ?? false);
  });
}

/**
 * `initramfs --enable [--arg=…]` / `--disable`: the origin's regenerate-initramfs, applied like the layered packages
 * (a new deployment built from the base, re-done on every upgrade). Enabling again with other arguments replaces
 * them; enabling with the same ones changes nothing.
 */
export async function setInitramfs(opts: EngineOptions, req: InitramfsRequest): Promise<PkgChangeResult> {
  const args = req.args ?? [];
  if (!req.regenerate && args.length > 0) {
    throw new AptOstreeError('usage', 'dracut arguments only go with --enable', 'drop --arg, or use `apt-ostree initramfs --enable --arg=…`');
  }
  for (const arg of args) validateInitramfsArg(arg);
  return withSysrootLock(opts, req.regenerate ? 'initramfs --enable' : 'initramfs --disable', async () => {
    const view = await openOs(opts);
    const before = readRequests(view.originBase.origin);
    if (!req.regenerate && !before.regenerateInitramfs) {
      throw new AptOstreeError('nothing-to-do', 'initramfs regeneration is not enabled',
        'the deployment boots the base image\'s initramfs already; `apt-ostree initramfs --enable` turns regeneration on');
    }
    const requests: LayeringRequests = { ...before, regenerateInitramfs: req.regenerate, initramfsArgs: req.regenerate ? args : [] };
    return relayer(opts, view, await originBaseCommit(view), requests, false);
  });
}

/** Deploys the new requests on `base`, unless the origin base (the pending deployment, if any) has them already. */
async function relayer(opts: EngineOptions, view: OsView, base: string, requests: LayeringRequests, dryRun: boolean): Promise<PkgChangeResult> {
  if (sameRequests(requests, readRequests(view.originBase.origin))) {
    return { changed: false, dryRun, checksum: null, base, install: [], remove: [], inactive: [], downloadBytes: 0, requests };
  }
  const refspec = formatRefspec(followedRefspec(view.originBase));
  const overrideCommit = view.originBase.origin?.get('origin', 'override-commit');
  return deployLayered(opts, view, { base, refspec, requests, overrideCommit, dryRun });
}

function describe(verb: string, names: string[] | undefined): string | undefined {
  return names && names.length > 0 ? `${verb} ${names.join(' ')}` : undefined;
}
