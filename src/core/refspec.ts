import { AptOstreeError } from '../lib/errors.js';

/** `remote:ref` or a local `ref`, validated the way libostree validates them, before anything runs. */
export interface Refspec {
  remote: string | undefined;
  ref: string;
}

const REMOTE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
// ostree_validate_rev: path components of [\w.-]+, separated by single slashes.
const REF = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9._-]+)*$/;

export function parseRefspec(text: string): Refspec {
  const colon = text.indexOf(':');
  const remote = colon >= 0 ? text.slice(0, colon) : undefined;
  const ref = colon >= 0 ? text.slice(colon + 1) : text;
  if ((remote !== undefined && !REMOTE.test(remote)) || !REF.test(ref) || ref.split('/').some((c) => c === '.' || c === '..')) {
    throw new AptOstreeError('invalid-refspec', `malformed refspec '${printable(text)}'`,
      'a refspec is REMOTE:REF or REF, e.g. debian:debian/13/x86_64/standard');
  }
  return { remote, ref };
}

export function formatRefspec(r: Refspec): string {
  return r.remote === undefined ? r.ref : `${r.remote}:${r.ref}`;
}

/** Shows control characters as escapes so an error about bad input stays one line. */
export function printable(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}
