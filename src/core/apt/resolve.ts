/**
 * Resolution: what apt would do to the base commit's package set for a layering request, as a LayeringPlan for the
 * tree side. apt only simulates here (`apt-get -s`) against a copy of the base's dpkg status with the base packages
 * on hold (held-status.ts); download sizes come from a second call, `--print-uris` (apt refuses it together with -s).
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Deb822Paragraph } from '../../lib/deb822.js';
import { parseProvides } from '../../lib/deb822.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { InstalledPackage } from '../packages.js';
import type { AptEnvironment } from './apt-env.js';
import {
  aptErrors,
  archiveFileName,
  parsePrintUris,
  parseSimulation,
  parseUnknownPackages,
  parseUnmetDependencies,
  type SimulatedAction,
} from './apt-output.js';
import {
  baseChanges,
  BaseSkewError,
  ConflictsWithBaseError,
  findBasePackage,
  findConflicts,
  type BaseChange,
} from './base-changes.js';
import { writeHeldStatus } from './held-status.js';
import { aptArgument, formatPackageRequest, parsePackageName, type FilePackageRequest, type PackageRequest } from './package-request.js';
import { showRecords, versionSpec } from './package-records.js';
import type { LayeringPlan, PlannedPackage, PlanStep } from './plan.js';

export interface ResolveRequest {
  /** Packages to layer. */
  install: readonly PackageRequest[];
  /** Base packages to remove: `name` or `name:arch` (override remove). */
  remove: readonly string[];
  /** Base packages to replace: `name=version` or a local .deb (override replace). */
  replace: readonly PackageRequest[];
  /** The base commit's packages. */
  basePackages: readonly InstalledPackage[];
  /** Base packages apt may change to satisfy the request although nobody named them. */
  allowBaseChanges?: readonly string[];
  signal?: AbortSignal;
}

interface Validated {
  /** apt-get arguments, in the order given. */
  args: string[];
  /** Names the user asked for (install and replace). */
  requested: Set<string>;
  /** Base packages apt may change. */
  changeable: Set<string>;
  files: FilePackageRequest[];
  /** How the user named what they asked for, for messages. */
  shown: string[];
}

export async function resolvePlan(env: AptEnvironment, request: ResolveRequest): Promise<LayeringPlan> {
  const v = validate(request);
  if (v.args.length === 0) return { install: [], remove: [], steps: [], downloadBytes: 0 };
  const base = request.basePackages;
  const held = new Set(base.map((p) => p.name).filter((name) => !v.changeable.has(name)));
  const runOpts = request.signal ? { signal: request.signal } : {};

  await writeHeldStatus(env, held);
  const sim = await simulate(env, v.args, runOpts);
  let actions: SimulatedAction[];
  if (sim.ok) {
    actions = parseSimulation(sim.stdout);
  } else {
    throw await explainFailure(env, v, request, sim, runOpts);
  }
  // apt lets a command line override a hold (and a request may name a base package through a virtual one): the
  // plan itself is checked too.
  await refuseBaseChanges(env, actions, v, base, runOpts);

  const plan = await buildPlan(env, actions, v, base, runOpts);
  await fillDownloadInfo(env, plan, v.args, runOpts);
  await fillChecksums(env, plan, runOpts);
  return plan;
}

function validate(request: ResolveRequest): Validated {
  const baseNames = new Set(request.basePackages.map((p) => p.name));
  const seen = new Set<string>();
  const once = (name: string, text: string): void => {
    if (seen.has(name)) {
      throw new AptOstreeError('invalid-argument', `package ${name} is named twice in one request (${JSON.stringify(text)})`,
        'name each package once: install, replace or remove');
    }
    seen.add(name);
  };
  const v: Validated = { args: [], requested: new Set(), changeable: new Set(request.allowBaseChanges ?? []), files: [], shown: [] };

  for (const r of request.install) {
    once(r.name, formatPackageRequest(r));
    const inBase = findBasePackage(request.basePackages, r.name, r.arch);
    if (inBase && (r.arch === undefined || r.arch === inBase.architecture || inBase.architecture === 'all')) {
      throw new AptOstreeError('already-installed', `${r.name} ${inBase.version} is part of the base image`,
        `to change its version use \`apt-ostree override replace ${r.kind === 'file' ? r.path : `${r.name}=VERSION`}\``);
    }
    addRequest(v, r);
  }
  for (const r of request.replace) {
    once(r.name, formatPackageRequest(r));
    if (r.kind === 'name' && r.version === undefined) {
      throw new AptOstreeError('invalid-argument', `override replace needs a version: ${r.name}=VERSION`,
        'give NAME=VERSION or the path of a .deb');
    }
    if (!baseNames.has(r.name)) {
      throw new AptOstreeError('not-in-base', `package ${r.name} is not in the base image`,
        `override replace only changes base packages; to add it use \`apt-ostree install ${formatPackageRequest(r)}\``);
    }
    v.changeable.add(r.name);
    addRequest(v, r);
  }
  for (const text of request.remove) {
    const { name, arch } = parsePackageName(text);
    once(name, text);
    if (!baseNames.has(name)) {
      throw new AptOstreeError('not-in-base', `package ${name} is not in the base image`,
        'override remove only removes base packages');
    }
    v.changeable.add(name);
    v.args.push(`${arch === undefined ? name : `${name}:${arch}`}-`);
  }
  return v;
}

function addRequest(v: Validated, r: PackageRequest): void {
  v.args.push(aptArgument(r));
  v.requested.add(r.name);
  v.shown.push(formatPackageRequest(r));
  if (r.kind === 'file') v.files.push(r);
}

interface Simulation {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function simulate(env: AptEnvironment, args: readonly string[], runOpts: { signal?: AbortSignal }): Promise<Simulation> {
  // Pattern-Only: without it apt-get takes an unknown name containing "." or "+" as a regular expression and
  // installs whatever matches it.
  const result = await env.aptGet(['-s', '-o', 'APT::Cmd::Pattern-Only=1', 'install', ...args], { ...runOpts, okCodes: [0, 100] });
  return { ok: result.code === 0, stdout: result.stdout, stderr: result.stderr };
}

/** Why apt refused; with the base held, a second try without holds tells whether the base is in the way. */
async function explainFailure(env: AptEnvironment, v: Validated, request: ResolveRequest, held: Simulation,
  runOpts: { signal?: AbortSignal }): Promise<AptOstreeError> {
  const unknown = parseUnknownPackages(held.stdout, held.stderr);
  if (unknown.length > 0) {
    return new AptOstreeError('unknown-package',
      unknown.map((u) => `${u.version === undefined ? u.name : `${u.name}=${u.version}`}: ${u.reason}`).join('; '),
      'check the name with `apt-ostree search`, or refresh the package lists with `apt-ostree refresh-md`');
  }
  const heldReasons = parseUnmetDependencies(held.stdout);
  if (heldReasons.length === 0) {
    const errors = aptErrors(held.stderr);
    return new AptOstreeError('command-failed', `apt-get could not resolve the request: ${errors.join('; ') || held.stderr.trim()}`,
      `the command was: ${env.argv('apt-get', ['-s', 'install', ...v.args]).join(' ')}`);
  }
  await writeHeldStatus(env, new Set());
  const free = await simulate(env, v.args, runOpts);
  if (free.ok) {
    const changes = baseChanges(parseSimulation(free.stdout), request.basePackages).filter((c) => !v.changeable.has(c.name));
    if (changes.length > 0) return await baseChangeError(env, parseSimulation(free.stdout), changes, v, request.basePackages, runOpts);
  }
  const reasons = free.ok ? heldReasons : parseUnmetDependencies(free.stdout);
  return unsatisfiable(reasons.length > 0 ? reasons : heldReasons);
}

function unsatisfiable(reasons: readonly string[]): AptOstreeError {
  const shown = reasons.slice(0, 8);
  const more = reasons.length > shown.length ? ` (and ${reasons.length - shown.length} more)` : '';
  return new AptOstreeError('unsatisfiable', `apt can not satisfy the dependencies: ${shown.join('; ')}${more}`,
    'a package may be missing from the configured repositories, or the lists may be stale: try `apt-ostree refresh-md`');
}

async function refuseBaseChanges(env: AptEnvironment, actions: readonly SimulatedAction[], v: Validated,
  base: readonly InstalledPackage[], runOpts: { signal?: AbortSignal }): Promise<void> {
  const changes = baseChanges(actions, base).filter((c) => !v.changeable.has(c.name));
  if (changes.length > 0) throw await baseChangeError(env, actions, changes, v, base, runOpts);
}

/** A removal caused by a Conflicts/Breaks of a new package is reported as such; everything else is skew. */
async function baseChangeError(env: AptEnvironment, actions: readonly SimulatedAction[], changes: readonly BaseChange[],
  v: Validated, base: readonly InstalledPackage[], runOpts: { signal?: AbortSignal }): Promise<AptOstreeError> {
  const removed = changes.filter((c) => c.wantedVersion === null);
  if (removed.length > 0) {
    const conflicts = findConflicts(removed, await recordsOf(env, actions, v.files, runOpts), base);
    if (conflicts.length > 0) return new ConflictsWithBaseError(conflicts);
  }
  return new BaseSkewError(changes, v.shown);
}

/** The package records of everything apt would unpack (local files by path). */
async function recordsOf(env: AptEnvironment, actions: readonly SimulatedAction[], files: readonly FilePackageRequest[],
  runOpts: { signal?: AbortSignal }): Promise<Deb822Paragraph[]> {
  const specs = actions.flatMap((a) => {
    if (a.kind !== 'inst') return [];
    const file = files.find((f) => f.name === a.name && f.version === a.version);
    return [file ? file.path : versionSpec(env, a)];
  });
  const records = await showRecords(env, specs, runOpts);
  const wanted = new Set(actions.filter((a) => a.kind === 'inst').map((a) => `${a.name} ${a.version}`));
  return records.filter((r) => wanted.has(`${r.get('Package')?.trim() ?? ''} ${r.get('Version')?.trim() ?? ''}`));
}

async function buildPlan(env: AptEnvironment, actions: readonly SimulatedAction[], v: Validated,
  base: readonly InstalledPackage[], runOpts: { signal?: AbortSignal }): Promise<LayeringPlan> {
  const requested = new Set(v.requested);
  // A virtual package the user named is fulfilled by a provider apt picked: that provider is what they asked for.
  const installedNames = new Set(actions.filter((a) => a.kind === 'inst').map((a) => a.name));
  const virtual = [...v.requested].filter((name) => !installedNames.has(name));
  if (virtual.length > 0) {
    for (const record of await recordsOf(env, actions, v.files, runOpts)) {
      const provides = record.get('Provides');
      if (provides === undefined || provides.trim() === '') continue;
      if (parseProvides(provides).some((p) => virtual.includes(p.name))) requested.add(record.get('Package')?.trim() ?? '');
    }
  }

  const plan: LayeringPlan = { install: [], remove: [], steps: [], downloadBytes: 0 };
  const addStep = (step: PlanStep): void => {
    const last = plan.steps.at(-1);
    if (last && last.kind === step.kind && (last.kind !== 'remove' || step.kind !== 'remove' || last.purge === step.purge)) {
      last.packages.push(...step.packages);
    } else {
      plan.steps.push(step);
    }
  };
  for (const action of actions) {
    if (action.kind === 'inst') {
      const inBase = findBasePackage(base, action.name, action.arch);
      const file = v.files.find((f) => f.name === action.name && f.version === action.version);
      const pkg: PlannedPackage = { name: action.name, arch: action.arch, version: action.version, requested: requested.has(action.name) };
      if (inBase) pkg.baseVersion = inBase.version;
      if (file) { pkg.debPath = file.path; pkg.uri = ''; }
      plan.install.push(pkg);
      addStep({ kind: 'unpack', packages: [`${action.name}:${action.arch}`] });
    } else if (action.kind === 'conf') {
      addStep({ kind: 'configure', packages: [`${action.name}:${action.arch}`] });
    } else {
      const arch = action.arch ?? findBasePackage(base, action.name)?.architecture ?? env.arch;
      plan.remove.push({ name: action.name, arch, version: action.version });
      addStep({ kind: 'remove', packages: [`${action.name}:${arch}`], purge: action.purge });
    }
  }
  return plan;
}

/**
 * URIs and sizes from `--print-uris`, which lists only what is not in the archives directory yet; pointing it at an
 * empty one lists every package, and the sizes of the files already cached tell what is left to download.
 */
async function fillDownloadInfo(env: AptEnvironment, plan: LayeringPlan, args: readonly string[], runOpts: { signal?: AbortSignal }):
  Promise<void> {
  if (plan.install.length === 0) return;
  const empty = path.join(env.cacheDir, 'print-uris');
  await mkdir(path.join(empty, 'partial'), { recursive: true });
  const { stdout } = await env.aptGet([
    '-qq', '-y', '--print-uris', '-o', 'APT::Cmd::Pattern-Only=1', '-o', `Dir::Cache::archives=${empty}/`, 'install', ...args,
  ], runOpts);
  const byFile = new Map(parsePrintUris(stdout).map((u) => [u.fileName, u]));
  let bytes = 0;
  for (const pkg of plan.install) {
    const printed = byFile.get(archiveFileName(pkg));
    if (!printed) continue;
    pkg.size = printed.size;
    if (pkg.debPath !== undefined) continue; // a local file request: nothing to download
    if (printed.uri.startsWith('file:')) {
      // apt uses files of file: repositories where they are, it does not copy them.
      pkg.uri = printed.uri;
      continue;
    }
    pkg.uri = printed.uri;
    const cached = await stat(path.join(env.archivesDir, printed.fileName)).catch(() => null);
    if (cached?.size !== printed.size) bytes += printed.size;
  }
  plan.downloadBytes = bytes;
}

/** SHA256 of each repository package, from its index record (for checking cached files before reuse). */
async function fillChecksums(env: AptEnvironment, plan: LayeringPlan, runOpts: { signal?: AbortSignal }): Promise<void> {
  const fromRepository = plan.install.filter((p) => p.debPath === undefined);
  if (fromRepository.length === 0) return;
  const records = await showRecords(env, fromRepository.map((p) => versionSpec(env, p)), runOpts);
  for (const pkg of fromRepository) {
    const record = records.find((r) => r.get('Package')?.trim() === pkg.name && r.get('Version')?.trim() === pkg.version
      && r.get('Architecture')?.trim() === pkg.arch);
    const sha256 = record?.get('SHA256')?.trim();
    if (sha256 && /^[0-9a-f]{64}$/.test(sha256)) pkg.sha256 = sha256;
  }
}
