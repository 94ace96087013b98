import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDeb822, parseProvides, type Deb822Paragraph, type ProvidedPackage } from '../lib/deb822.js';
import { compareVersions } from '../lib/debversion.js';
import { AptOstreeError } from '../lib/errors.js';
import { ExecError, run } from '../lib/exec.js';

/** Base image contract: the dpkg database travels read-only in /usr; /var/lib/dpkg is a tmpfiles.d symlink to it. */
export const DPKG_DATABASE_DIR = '/usr/share/dpkg/database';
export const DPKG_STATUS_PATH = `${DPKG_DATABASE_DIR}/status`;

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  /** Source package name; the binary name when the Source field is absent. */
  source: string;
  /** From `Source: name (version)` (binNMUs and similar); the binary version otherwise. */
  sourceVersion: string;
  /** The full dpkg Status triple, e.g. `install ok installed` or `hold ok installed`. */
  status: string;
  essential?: boolean;
  multiArch?: string;
  provides?: ProvidedPackage[];
  /** In KiB, as dpkg records it. */
  installedSize?: number;
  section?: string;
  priority?: string;
}

export interface PackageChange {
  name: string;
  arch: string;
  /** `name`, or `name:arch` when the name is installed for several architectures on either side. */
  key: string;
}

export interface PackageVersionChange extends PackageChange {
  oldVersion: string;
  newVersion: string;
}

export interface PackageAddition extends PackageChange {
  newVersion: string;
}

export interface PackageRemoval extends PackageChange {
  oldVersion: string;
}

/** The JSON form of a diff is this object as is. */
export interface PackageDiff {
  added: PackageAddition[];
  removed: PackageRemoval[];
  upgraded: PackageVersionChange[];
  downgraded: PackageVersionChange[];
}

/** Installed packages of a commit in an OSTree repo, sorted by name then architecture. */
export async function readCommitPackages(repoPath: string, commit: string): Promise<InstalledPackage[]> {
  if (commit.startsWith('-')) {
    throw new AptOstreeError('invalid-argument', `invalid commit "${commit}"`, 'give a checksum or a ref');
  }
  let text: string;
  try {
    ({ stdout: text } = await run(['ostree', 'cat', `--repo=${repoPath}`, commit, DPKG_STATUS_PATH]));
  } catch (err) {
    if (err instanceof ExecError && isMissingStatusFile(err.result.stderr)) throw missingDatabase(`commit ${commit}`, err);
    if (err instanceof ExecError && /Refspec .* not found|No such metadata object/.test(err.result.stderr)) {
      throw new AptOstreeError('unknown-revision', `no commit "${commit}" in ${repoPath}`,
        'give a commit checksum or a ref that exists in the repo', { cause: err });
    }
    throw err;
  }
  return parseInstalledPackages(text, `${commit}:${DPKG_STATUS_PATH}`);
}

/** Installed packages of a checked-out tree (a deployment or a compose root), sorted by name then architecture. */
export async function readTreePackages(rootDir: string): Promise<InstalledPackage[]> {
  const statusFile = path.join(rootDir, DPKG_STATUS_PATH);
  let text: string;
  try {
    text = await readFile(statusFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missingDatabase(`tree ${rootDir}`, err);
    throw err;
  }
  return parseInstalledPackages(text, statusFile);
}

/** ostree names the first missing path component: /usr/share when the tree has no /usr/share at all. */
function isMissingStatusFile(stderr: string): boolean {
  const missing = /No such file or directory: (\/\S*)/.exec(stderr)?.[1];
  return missing !== undefined && `${DPKG_STATUS_PATH}/`.startsWith(`${missing}/`);
}

function missingDatabase(what: string, cause: unknown): AptOstreeError {
  return new AptOstreeError('no-package-database', `${what} has no dpkg database at ${DPKG_STATUS_PATH}`,
    'it is not an apt-ostree base image; compose it with apt-ostree so the dpkg database lives in /usr', { cause });
}

/** Parses a dpkg status file and keeps the packages that are unpacked and configured on disk. */
export function parseInstalledPackages(statusText: string, source?: string): InstalledPackage[] {
  const packages = parseDeb822(statusText, source === undefined ? {} : { source })
    .filter(isInstalled)
    .map(toInstalledPackage);
  return packages.sort(compareInstalled);
}

/**
 * The third word of Status is the state on disk. The first (want) may be hold or deinstall for a package that is
 * still fully installed, so `install ok installed` alone would miss held packages.
 */
function isInstalled(paragraph: Deb822Paragraph): boolean {
  const words = (paragraph.get('Status') ?? '').trim().split(/\s+/);
  return words.length === 3 && words[2] === 'installed';
}

function toInstalledPackage(paragraph: Deb822Paragraph): InstalledPackage {
  const name = (paragraph.get('Package') ?? '').trim();
  const version = (paragraph.get('Version') ?? '').trim();
  const architecture = (paragraph.get('Architecture') ?? '').trim();
  if (name === '' || version === '' || architecture === '') {
    throw new AptOstreeError('parse-error',
      `installed package "${name || '?'}" lacks Package, Version or Architecture in the dpkg status file`,
      'the dpkg database is damaged');
  }
  // Source: name (version), where the version is present only when it differs from the binary's.
  const sourceMatch = /^(\S+)(?:\s*\((\S+)\))?/.exec((paragraph.get('Source') ?? '').trim());
  const pkg: InstalledPackage = {
    name,
    version,
    architecture,
    source: sourceMatch?.[1] ?? name,
    sourceVersion: sourceMatch?.[2] ?? version,
    status: (paragraph.get('Status') ?? '').trim().split(/\s+/).join(' '),
  };
  if (paragraph.get('Essential')?.trim() === 'yes') pkg.essential = true;
  const multiArch = paragraph.get('Multi-Arch')?.trim();
  if (multiArch) pkg.multiArch = multiArch;
  const provides = paragraph.get('Provides');
  if (provides !== undefined && provides.trim() !== '') pkg.provides = parseProvides(provides);
  const installedSize = Number(paragraph.get('Installed-Size'));
  if (Number.isFinite(installedSize) && paragraph.has('Installed-Size')) pkg.installedSize = installedSize;
  const section = paragraph.get('Section')?.trim();
  if (section) pkg.section = section;
  const priority = paragraph.get('Priority')?.trim();
  if (priority) pkg.priority = priority;
  return pkg;
}

function compareInstalled(a: InstalledPackage, b: InstalledPackage): number {
  return compareStrings(a.name, b.name) || compareStrings(a.architecture, b.architecture);
}

function compareChanges(a: PackageChange, b: PackageChange): number {
  return compareStrings(a.name, b.name) || compareStrings(a.arch, b.arch);
}

/** Byte order rather than locale order: stable output whatever LANG says, as dpkg-query sorts. */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Packages are matched by name and architecture; a change of architecture shows as a removal plus an addition. */
export function diffPackages(from: readonly InstalledPackage[], to: readonly InstalledPackage[]): PackageDiff {
  const identity = (p: InstalledPackage): string => `${p.name}:${p.architecture}`;
  const before = new Map(from.map((p) => [identity(p), p]));
  const after = new Map(to.map((p) => [identity(p), p]));
  const keyOf = changeKeyFunction(from, to);
  const diff: PackageDiff = { added: [], removed: [], upgraded: [], downgraded: [] };

  for (const [id, old] of before) {
    const change = { name: old.name, arch: old.architecture, key: keyOf(old) };
    const current = after.get(id);
    if (!current) {
      diff.removed.push({ ...change, oldVersion: old.version });
      continue;
    }
    const order = compareVersions(old.version, current.version);
    // Versions dpkg deems equal (1.0 and 0:1.0-0) are no change.
    if (order < 0) diff.upgraded.push({ ...change, oldVersion: old.version, newVersion: current.version });
    if (order > 0) diff.downgraded.push({ ...change, oldVersion: old.version, newVersion: current.version });
  }
  for (const [id, added] of after) {
    if (!before.has(id)) diff.added.push({ name: added.name, arch: added.architecture, key: keyOf(added), newVersion: added.version });
  }
  diff.added.sort(compareChanges);
  diff.removed.sort(compareChanges);
  diff.upgraded.sort(compareChanges);
  diff.downgraded.sort(compareChanges);
  return diff;
}

function changeKeyFunction(from: readonly InstalledPackage[], to: readonly InstalledPackage[]):
  (p: InstalledPackage) => string {
  const archesByName = new Map<string, Set<string>>();
  for (const p of [...from, ...to]) {
    const arches = archesByName.get(p.name) ?? new Set<string>();
    arches.add(p.architecture);
    archesByName.set(p.name, arches);
  }
  return (p) => ((archesByName.get(p.name)?.size ?? 0) > 1 ? `${p.name}:${p.architecture}` : p.name);
}

export function isEmptyDiff(diff: PackageDiff): boolean {
  return diff.added.length + diff.removed.length + diff.upgraded.length + diff.downgraded.length === 0;
}

/** rpm-ostree's text form: sections Upgraded, Downgraded, Removed, Added; nothing at all for an empty diff. */
export function formatPackageDiff(diff: PackageDiff): string[] {
  const lines: string[] = [];
  const section = (title: string, entries: string[]): void => {
    if (entries.length === 0) return;
    lines.push(`${title}:`, ...entries.map((entry) => `  ${entry}`));
  };
  section('Upgraded', diff.upgraded.map((c) => `${c.key} ${c.oldVersion} -> ${c.newVersion}`));
  section('Downgraded', diff.downgraded.map((c) => `${c.key} ${c.oldVersion} -> ${c.newVersion}`));
  section('Removed', diff.removed.map((c) => `${c.key}-${c.oldVersion}`));
  section('Added', diff.added.map((c) => `${c.key}-${c.newVersion}`));
  return lines;
}
