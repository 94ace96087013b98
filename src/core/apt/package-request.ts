/**
 * What a user types to name a package: `name`, `name=version`, `name:arch`, `name:arch=version`, or a local .deb
 * (`./x.deb`, `x.deb`, `../dir/x.deb`, `/abs/x.deb`). Everything is validated here, before apt sees it: apt treats unknown
 * names with `.`, `+` or `*` as patterns and anything starting with `-` as an option, and the text ends up in logs,
 * origin files and D-Bus replies.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDeb822 } from '../../lib/deb822.js';
import { isValidVersion } from '../../lib/debversion.js';
import { AptOstreeError } from '../../lib/errors.js';
import { ExecError, run } from '../../lib/exec.js';

export interface NamePackageRequest {
  kind: 'name';
  name: string;
  version?: string;
  arch?: string;
}

export interface FilePackageRequest {
  kind: 'file';
  /** Absolute path of the .deb. */
  path: string;
  /** Read from the .deb's control data. */
  name: string;
  version: string;
  arch: string;
}

export type PackageRequest = NamePackageRequest | FilePackageRequest;

/** Debian Policy 5.6.1: lowercase letters, digits, `+`, `-`, `.`; at least two characters, starting alphanumeric. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const ARCHITECTURE = /^[a-z0-9-]+$/;

const NAME_HINT = 'name a package as NAME, NAME=VERSION, NAME:ARCH or NAME:ARCH=VERSION (lowercase letters, digits, '
  + '"+", "-" and "."; e.g. htop, libfoo1:amd64, curl=7.88.1-10), or a local file as ./FILE.deb or /path/FILE.deb';

export function isValidPackageName(name: string): boolean {
  return PACKAGE_NAME.test(name);
}

export function isValidArchitecture(arch: string): boolean {
  return ARCHITECTURE.test(arch);
}

/** The text as a JSON string: control characters, quotes and non-printing bytes become visible escapes. */
export function displayText(text: string): string {
  return JSON.stringify(text);
}

function invalid(text: string, why: string): AptOstreeError {
  return new AptOstreeError('invalid-package-name', `invalid package ${displayText(text)}: ${why}`, NAME_HINT);
}

/** A local file is anything that looks like a path or ends in .deb (no Debian package is named like a file). */
export function looksLikeFile(text: string): boolean {
  return text.includes('/') || text.endsWith('.deb');
}

/** Parses `name[:arch][=version]` (not files). Throws 'invalid-package-name'. */
export function parseNameRequest(text: string): NamePackageRequest {
  if (/[\p{Cc}\p{Cf}\s]/u.test(text)) throw invalid(text, 'it contains spaces or control characters');
  const eq = text.indexOf('=');
  const spec = eq < 0 ? text : text.slice(0, eq);
  const version = eq < 0 ? undefined : text.slice(eq + 1);
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const arch = colon < 0 ? undefined : spec.slice(colon + 1);
  if (!isValidPackageName(name)) throw invalid(text, `${displayText(name)} is not a valid Debian package name`);
  if (arch !== undefined && !isValidArchitecture(arch)) throw invalid(text, `${displayText(arch)} is not an architecture`);
  if (version !== undefined && !isValidVersion(version)) throw invalid(text, `${displayText(version)} is not a valid Debian version`);
  const request: NamePackageRequest = { kind: 'name', name };
  if (arch !== undefined) request.arch = arch;
  if (version !== undefined) request.version = version;
  return request;
}

/** A package name with an optional `:arch`, no version (removals). */
export function parsePackageName(text: string): { name: string; arch?: string } {
  const request = parseNameRequest(text);
  if (request.version !== undefined) throw invalid(text, 'a version is not allowed here');
  return request.arch === undefined ? { name: request.name } : { name: request.name, arch: request.arch };
}

export interface ParseRequestOptions {
  /** Relative file paths are resolved against it (the caller's directory); default process.cwd(). */
  cwd?: string;
  signal?: AbortSignal;
}

/** Parses and validates one request; a file request is read with dpkg-deb. */
export async function parsePackageRequest(text: string, opts: ParseRequestOptions = {}): Promise<PackageRequest> {
  if (!looksLikeFile(text)) return parseNameRequest(text);
  return readLocalDeb(text, opts);
}

export async function parsePackageRequests(texts: readonly string[], opts: ParseRequestOptions = {}): Promise<PackageRequest[]> {
  const requests: PackageRequest[] = [];
  for (const text of texts) requests.push(await parsePackageRequest(text, opts));
  return requests;
}

async function readLocalDeb(text: string, opts: ParseRequestOptions): Promise<FilePackageRequest> {
  if (/\p{Cc}/u.test(text)) throw invalid(text, 'the path contains control characters');
  if (!text.endsWith('.deb')) throw invalid(text, 'a local package must be a file ending in .deb');
  const file = path.resolve(opts.cwd ?? process.cwd(), text);
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) {
    throw new AptOstreeError('invalid-package-name', `no such file ${displayText(file)}`,
      'give the path of an existing .deb file');
  }
  const fields = await debControlFields(file, ['Package', 'Version', 'Architecture'], opts.signal);
  const name = fields.get('Package') ?? '';
  const version = fields.get('Version') ?? '';
  const arch = fields.get('Architecture') ?? '';
  if (!isValidPackageName(name) || !isValidVersion(version) || !isValidArchitecture(arch)) {
    throw new AptOstreeError('invalid-deb',
      `${displayText(file)} has an invalid Package, Version or Architecture field (${displayText(`${name} ${version} ${arch}`)})`,
      'the file is not a usable Debian package');
  }
  return { kind: 'file', path: file, name, version, arch };
}

/** Control fields of a .deb, by `dpkg-deb -f`; a damaged file is 'invalid-deb'. */
export async function debControlFields(file: string, names: readonly string[], signal?: AbortSignal): Promise<Map<string, string>> {
  let stdout: string;
  try {
    ({ stdout } = await run(['dpkg-deb', '-f', file, ...names], signal ? { signal } : {}));
  } catch (err) {
    if (err instanceof ExecError) {
      const reason = err.result.stderr.trim().split('\n').filter((l) => l !== '').slice(-2).join('; ');
      throw new AptOstreeError('invalid-deb', `${displayText(file)} is not a valid .deb: ${reason}`,
        'download the package again, or check that the file is a Debian binary package', { cause: err });
    }
    throw err;
  }
  const fields = new Map<string, string>();
  // dpkg-deb prints just the value (no "Name:") when asked for a single field.
  if (names.length === 1) {
    const [only = ''] = names;
    fields.set(only, stdout.trim());
    return fields;
  }
  for (const paragraph of parseDeb822(stdout, { source: `${file} control` })) {
    for (const { name, value } of paragraph) fields.set(name, value.trim());
  }
  return fields;
}

/** The argument apt-get takes for a request: `name[:arch][=version]`, or the absolute path of a file. */
export function aptArgument(request: PackageRequest): string {
  if (request.kind === 'file') return request.path;
  const arch = request.arch === undefined ? '' : `:${request.arch}`;
  const version = request.version === undefined ? '' : `=${request.version}`;
  return `${request.name}${arch}${version}`;
}

/** How a request is shown to users: what they typed, normalized. */
export function formatPackageRequest(request: PackageRequest): string {
  return request.kind === 'file' ? request.path : aptArgument(request);
}
