/**
 * The base image is held during resolution: a layered package may only change base packages the user named
 * (override replace/remove) or explicitly allowed. When apt can only satisfy a request by changing the base, the
 * archive has usually moved ahead of the base image (NOTES: "Base/archive skew"); the user gets the list of changes
 * and the commands that make them deliberate, instead of a silently different base.
 */
import type { Deb822Paragraph } from '../../lib/deb822.js';
import { parseRelationField } from '../../lib/deb822.js';
import { satisfies } from '../../lib/debversion.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { InstalledPackage } from '../packages.js';
import type { SimulatedAction } from './apt-output.js';

export interface BaseChange {
  name: string;
  arch: string;
  baseVersion: string;
  /** null: apt would remove the package. */
  wantedVersion: string | null;
}

/** Which base packages a set of apt actions changes. */
export function baseChanges(actions: readonly SimulatedAction[], base: readonly InstalledPackage[]): BaseChange[] {
  const changes: BaseChange[] = [];
  for (const action of actions) {
    if (action.kind === 'conf') continue;
    const installed = findBasePackage(base, action.name, action.arch);
    if (!installed) continue;
    if (action.kind === 'inst' && action.version !== installed.version) {
      changes.push({ name: installed.name, arch: installed.architecture, baseVersion: installed.version, wantedVersion: action.version });
    } else if (action.kind === 'remv') {
      changes.push({ name: installed.name, arch: installed.architecture, baseVersion: installed.version, wantedVersion: null });
    }
  }
  return changes;
}

/** The base package of that name; with several architectures installed, the one of `arch` (or the native one). */
export function findBasePackage(base: readonly InstalledPackage[], name: string, arch?: string): InstalledPackage | undefined {
  const candidates = base.filter((p) => p.name === name);
  if (candidates.length <= 1 || arch === undefined) return candidates[0];
  return candidates.find((p) => p.architecture === arch || p.architecture === 'all') ?? candidates[0];
}

export function formatBaseChange(change: BaseChange): string {
  return `${change.name} ${change.baseVersion} → ${change.wantedVersion ?? '(removed)'}`;
}

export class BaseSkewError extends AptOstreeError {
  readonly changes: readonly BaseChange[];

  constructor(changes: readonly BaseChange[], requested: readonly string[]) {
    const replaceable = changes.filter((c) => c.wantedVersion !== null);
    const removed = changes.filter((c) => c.wantedVersion === null);
    const commands: string[] = [];
    if (replaceable.length > 0) {
      commands.push(`\`apt-ostree override replace ${replaceable.map((c) => `${c.name}=${c.wantedVersion ?? ''}`).join(' ')}\``);
    }
    if (removed.length > 0) commands.push(`\`apt-ostree override remove ${removed.map((c) => c.name).join(' ')}\``);
    const what = requested.length > 0 ? requested.join(', ') : 'the request';
    super('base-skew',
      `${what} would change packages of the base image: ${changes.map(formatBaseChange).join(', ')}`,
      `the package archive has moved ahead of the base image; update the base with \`apt-ostree upgrade\`, or make the change deliberate with ${commands.join(' and ')}`);
    this.changes = changes;
  }
}

export interface BaseConflict {
  /** The package to be installed. */
  package: string;
  /** The base package it conflicts with (or breaks). */
  basePackage: string;
  baseVersion: string;
}

export class ConflictsWithBaseError extends AptOstreeError {
  readonly conflicts: readonly BaseConflict[];

  constructor(conflicts: readonly BaseConflict[]) {
    const described = conflicts.map((c) => `${c.package} conflicts with ${c.basePackage} ${c.baseVersion} of the base image`);
    const bases = [...new Set(conflicts.map((c) => c.basePackage))];
    super('conflicts-with-base', `${described.join('; ')} (apt would remove ${bases.join(', ')})`,
      `remove it from the base deliberately with \`apt-ostree override remove ${bases.join(' ')}\`, or do not install ${[...new Set(conflicts.map((c) => c.package))].join(', ')}`);
    this.conflicts = conflicts;
  }
}

/**
 * For base packages apt would remove: the planned packages whose Conflicts or Breaks name them (or something
 * they provide) in a version the base has.
 */
export function findConflicts(removed: readonly BaseChange[], records: readonly Deb822Paragraph[], base: readonly InstalledPackage[]):
  BaseConflict[] {
  const conflicts: BaseConflict[] = [];
  for (const record of records) {
    const pkg = record.get('Package')?.trim() ?? '';
    const relations = ['Conflicts', 'Breaks'].flatMap((field) => {
      const value = record.get(field);
      return value === undefined || value.trim() === '' ? [] : parseRelationField(value).flat();
    });
    for (const change of removed) {
      const installed = findBasePackage(base, change.name, change.arch);
      if (!installed) continue;
      const names = new Map<string, string | undefined>([[installed.name, installed.version]]);
      for (const provided of installed.provides ?? []) names.set(provided.name, provided.version);
      const hit = relations.some((r) => {
        if (!names.has(r.name)) return false;
        if (r.relation === undefined || r.version === undefined) return true;
        const version = names.get(r.name);
        return version !== undefined && satisfies(version, r.relation, r.version);
      });
      if (hit) conflicts.push({ package: pkg, basePackage: change.name, baseVersion: change.baseVersion });
    }
  }
  return conflicts;
}
