import { AptOstreeError } from './errors.js';
import type { VersionRelation } from './deb822.js';

/** `[epoch:]upstream[-revision]`, split the way dpkg splits it: first colon, last hyphen. */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  /** Empty for native packages; dpkg compares a missing revision equal to `0`. */
  revision: string;
}

const MAX_EPOCH = 2 ** 31 - 1;

/**
 * Parses a version as dpkg's parseversion() does. Hard errors (empty parts, bad epoch, embedded spaces) throw;
 * what dpkg only warns about (upstream not starting with a digit, odd characters) is accepted so that comparisons
 * agree with dpkg on every version it compares. Use isValidVersion() to enforce Policy.
 */
export function parseVersion(text: string): DebianVersion {
  const result = splitVersion(text);
  if (typeof result === 'string') {
    throw new AptOstreeError('parse-error', `invalid version "${text}": ${result}`,
      'a Debian version looks like [epoch:]upstream[-revision], e.g. 1:2.36-9+deb12u4');
  }
  return result;
}

/** Returns the parsed version or the reason dpkg would reject it. */
function splitVersion(text: string): DebianVersion | string {
  const trimmed = text.trim();
  if (trimmed === '') return 'version string is empty';
  if (/\s/.test(trimmed)) return 'version string has embedded spaces';
  let epoch = 0;
  let rest = trimmed;
  const colon = trimmed.indexOf(':');
  if (colon >= 0) {
    const epochText = trimmed.slice(0, colon);
    if (epochText === '') return 'epoch in version is empty';
    if (!/^\d+$/.test(epochText)) return 'epoch in version is not number';
    epoch = Number(epochText);
    if (epoch > MAX_EPOCH) return 'epoch in version is too big';
    rest = trimmed.slice(colon + 1);
    if (rest === '') return 'nothing after colon in version number';
  }
  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen >= 0) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') return 'revision number is empty';
  }
  if (upstream === '') return 'version number is empty';
  return { epoch, upstream, revision };
}

/** Policy-valid: the version parses, the upstream part starts with a digit, and only allowed characters appear. */
export function isValidVersion(text: string): boolean {
  const parsed = splitVersion(text);
  if (typeof parsed === 'string') return false;
  // Hyphens and colons inside upstream are already implied by the split (last hyphen, first colon).
  return /^\d[A-Za-z0-9.+~:-]*$/.test(parsed.upstream) && /^[A-Za-z0-9.+~]*$/.test(parsed.revision);
}

export function formatVersion(version: DebianVersion): string {
  const epoch = version.epoch === 0 ? '' : `${version.epoch}:`;
  const revision = version.revision === '' ? '' : `-${version.revision}`;
  return `${epoch}${version.upstream}${revision}`;
}

/** dpkg's version comparison: epoch numerically, then upstream, then revision with verrevcmp(). */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  return compareParsedVersions(parseVersion(a), parseVersion(b));
}

export function compareParsedVersions(a: DebianVersion, b: DebianVersion): -1 | 0 | 1 {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return Math.sign(verrevcmp(a.upstream, b.upstream) || verrevcmp(a.revision, b.revision)) as -1 | 0 | 1;
}

/** Does `version` stand in `relation` to `target`, as in `Depends: pkg (relation target)`? */
export function satisfies(version: string, relation: VersionRelation, target: string): boolean {
  const order = compareVersions(version, target);
  switch (relation) {
    case '<<': return order < 0;
    case '<=': return order <= 0;
    case '=': return order === 0;
    case '>=': return order >= 0;
    case '>>': return order > 0;
  }
}

const CODE_0 = 48;
const CODE_9 = 57;
const CODE_TILDE = 126;

function isDigit(code: number): boolean {
  return code >= CODE_0 && code <= CODE_9;
}

function isAsciiLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** Sort weight of a non-digit character: `~` before the end of the string, letters before everything else. */
function order(code: number): number {
  if (code === 0 || isDigit(code)) return 0;
  if (isAsciiLetter(code)) return code;
  if (code === CODE_TILDE) return -1;
  return code + 256;
}

/**
 * A port of dpkg's verrevcmp(): alternate runs of non-digits (compared by order()) and digits (compared numerically,
 * leading zeros ignored). Past the end of a string reads as 0, like C's terminating NUL.
 */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const at = (s: string, k: number): number => (k < s.length ? s.charCodeAt(k) : 0);
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(at(a, i))) || (j < b.length && !isDigit(at(b, j)))) {
      const ac = order(at(a, i));
      const bc = order(at(b, j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(a, i) === CODE_0) i++;
    while (at(b, j) === CODE_0) j++;
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (firstDiff === 0) firstDiff = at(a, i) - at(b, j);
      i++;
      j++;
    }
    if (isDigit(at(a, i))) return 1;
    if (isDigit(at(b, j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}
