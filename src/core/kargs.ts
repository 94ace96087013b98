import { AptOstreeError } from '../lib/errors.js';
import { printable } from './refspec.js';

/**
 * Kernel arguments as rpm-ostree edits them: KEY or KEY=VALUE, order kept, a key may repeat (console=).
 * A value may be quoted to hold spaces; control characters are refused (a newline would end the boot entry).
 */
export function validateKarg(karg: string): string {
  // eslint-disable-next-line no-control-regex
  if (karg === '' || /[\x00-\x1f\x7f]/.test(karg) || karg.startsWith('=') || /^ostree=/.test(karg) || hasUnquotedSpace(karg)) {
    throw new AptOstreeError('invalid-karg', `invalid kernel argument '${printable(karg)}'`,
      'a kernel argument is KEY or KEY=VALUE without control characters; quote a value that holds spaces: KEY="a b"');
  }
  return karg;
}

function hasUnquotedSpace(karg: string): boolean {
  let quoted = false;
  for (const c of karg) {
    if (c === '"') quoted = !quoted;
    else if (c === ' ' && !quoted) return true;
  }
  return quoted;
}

export function kargKey(karg: string): string {
  const eq = karg.indexOf('=');
  return eq < 0 ? karg : karg.slice(0, eq);
}

export interface KargEdits {
  append?: string[];
  appendIfMissing?: string[];
  delete?: string[];
  deleteIfPresent?: string[];
  /** KEY=OLD=NEW, or KEY=NEW when KEY has one value. */
  replace?: string[];
}

/** Applies rpm-ostree's edit order (replace, delete, append) to a copy; an edit that can not apply throws. */
export function editKargs(current: readonly string[], edits: KargEdits): string[] {
  const out = [...current];
  for (const spec of edits.replace ?? []) replaceKarg(out, validateKarg(spec));
  for (const karg of edits.delete ?? []) {
    const i = findKarg(out, validateKarg(karg));
    if (i < 0) throw new AptOstreeError('invalid-karg', `kernel argument '${printable(karg)}' is not present`,
      'see the current arguments with `apt-ostree kargs`, or use --delete-if-present');
    out.splice(i, 1);
  }
  for (const karg of edits.deleteIfPresent ?? []) {
    const i = findKarg(out, validateKarg(karg));
    if (i >= 0) out.splice(i, 1);
  }
  for (const karg of edits.append ?? []) out.push(validateKarg(karg));
  for (const karg of edits.appendIfMissing ?? []) {
    if (!out.includes(validateKarg(karg))) out.push(karg);
  }
  return out;
}

/** `--delete KEY` removes the single KEY…; `--delete KEY=VALUE` removes exactly that one. */
function findKarg(kargs: readonly string[], karg: string): number {
  if (karg.includes('=')) return kargs.indexOf(karg);
  const matches = kargs.flatMap((k, i) => (kargKey(k) === karg ? [i] : []));
  if (matches.length > 1) {
    throw new AptOstreeError('invalid-karg', `kernel argument '${karg}' has several values`,
      `name the one to remove as ${karg}=VALUE`);
  }
  return matches[0] ?? -1;
}

function replaceKarg(kargs: string[], spec: string): void {
  const parts = spec.split('=');
  const key = parts[0] ?? '';
  const matches = kargs.flatMap((k, i) => (kargKey(k) === key ? [i] : []));
  if (parts.length >= 3) {
    const oldValue = parts[1] ?? '';
    const newValue = parts.slice(2).join('=');
    const i = kargs.indexOf(`${key}=${oldValue}`);
    if (i < 0 && !(oldValue === '' && kargs.includes(key))) {
      throw new AptOstreeError('invalid-karg', `no kernel argument ${key}=${oldValue} to replace`,
        'see the current arguments with `apt-ostree kargs`');
    }
    kargs[i >= 0 ? i : kargs.indexOf(key)] = newValue === '' ? key : `${key}=${newValue}`;
    return;
  }
  if (matches.length !== 1) {
    throw new AptOstreeError('invalid-karg',
      matches.length === 0 ? `no kernel argument ${key} to replace` : `kernel argument ${key} has several values`,
      matches.length === 0 ? 'use --append to add it' : `use --replace=${key}=OLD=NEW`);
  }
  kargs[matches[0] ?? 0] = spec;
}
