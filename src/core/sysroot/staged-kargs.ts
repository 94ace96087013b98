/**
 * The kernel arguments of a staged deployment. It has no boot entry until ostree-finalize-staged writes one at
 * shutdown: `ostree admin deploy --stage` records them (when given) in /run/ostree/staged-deployment, a serialized
 * GVariant `a{sv}` ("target": the deployment, "merge-deployment", "kargs": `as`, …). Without "kargs", finalization
 * gives the deployment its merge deployment's arguments.
 *
 * Only what that file needs of the GVariant serialization format is read here (dictionaries of variants, strings and
 * arrays of strings); anything unexpected reads as "not recorded".
 */
import { readFile } from 'node:fs/promises';
import { validateKarg } from '../kargs.js';

export const STAGED_DEPLOYMENT_STATE = '/run/ostree/staged-deployment';

/**
 * The kernel arguments recorded for the staged deployment `targetName` (`<checksum>.<serial>`); undefined when none
 * are recorded, the file is missing or unreadable, or it is about another deployment.
 */
export async function readStagedKargs(targetName: string, path = STAGED_DEPLOYMENT_STATE): Promise<string[] | undefined> {
  let state: Buffer;
  try {
    state = await readFile(path);
  } catch {
    return undefined;
  }
  return stagedKargs(state, targetName);
}

export function stagedKargs(state: Uint8Array, targetName: string): string[] | undefined {
  const dict = parseVardict(state);
  const target = dict?.get('target');
  const name = target?.type === 'a{sv}' ? parseVardict(target.value)?.get('name') : undefined;
  if (name?.type !== 's' || parseString(name.value) !== targetName) return undefined;
  const kargs = dict?.get('kargs');
  const list = kargs?.type === 'as' ? parseStringArray(kargs.value) : undefined;
  // What goes back into `ostree admin deploy` must be a kernel argument; anything else reads as "not recorded".
  return list?.every(isKarg) ? list : undefined;
}

interface Variant {
  type: string;
  value: Uint8Array;
}

/** Framing offsets are little-endian, as wide as the container's size needs. */
function offsetSize(size: number): number {
  if (size > 0xffffffff) return 8;
  if (size > 0xffff) return 4;
  if (size > 0xff) return 2;
  return size > 0 ? 1 : 0;
}

function readOffset(data: Uint8Array, at: number, size: number): number {
  let n = 0;
  for (let i = size - 1; i >= 0; i--) n = n * 256 + (data[at + i] ?? 0);
  return n;
}

/** The elements of an array of variable-size elements (each ends where its framing offset says). */
function arrayElements(data: Uint8Array, alignment: number): Uint8Array[] | undefined {
  if (data.length === 0) return [];
  const size = offsetSize(data.length);
  const lastEnd = readOffset(data, data.length - size, size);
  if (lastEnd > data.length || (data.length - lastEnd) % size !== 0) return undefined;
  const elements: Uint8Array[] = [];
  let previousEnd = 0;
  for (let at = lastEnd; at < data.length; at += size) {
    const start = previousEnd + ((alignment - (previousEnd % alignment)) % alignment);
    const end = readOffset(data, at, size);
    if (end < start || end > lastEnd) return undefined;
    elements.push(data.subarray(start, end));
    previousEnd = end;
  }
  return elements;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseString(data: Uint8Array): string | undefined {
  const nul = data.indexOf(0);
  if (nul !== data.length - 1) return undefined;
  try {
    return utf8.decode(data.subarray(0, nul));
  } catch {
    return undefined;
  }
}

function parseStringArray(data: Uint8Array): string[] | undefined {
  const strings = arrayElements(data, 1)?.map(parseString);
  if (strings === undefined || strings.some((s) => s === undefined)) return undefined;
  return strings as string[];
}

/** A variant: the value, a NUL, then the value's type string. */
function parseVariant(data: Uint8Array): Variant | undefined {
  const nul = data.lastIndexOf(0);
  if (nul < 0) return undefined;
  return { type: Buffer.from(data.subarray(nul + 1)).toString('latin1'), value: data.subarray(0, nul) };
}

/** `a{sv}`: each entry is the key, then (8-aligned) the variant, then the key's end as a framing offset. */
function parseVardict(data: Uint8Array): Map<string, Variant> | undefined {
  const entries = arrayElements(data, 8);
  if (entries === undefined) return undefined;
  const dict = new Map<string, Variant>();
  for (const entry of entries) {
    const size = offsetSize(entry.length);
    if (size === 0) return undefined;
    const keyEnd = readOffset(entry, entry.length - size, size);
    const valueStart = keyEnd + ((8 - (keyEnd % 8)) % 8);
    if (keyEnd > entry.length - size || valueStart > entry.length - size) return undefined;
    const key = parseString(entry.subarray(0, keyEnd));
    const value = parseVariant(entry.subarray(valueStart, entry.length - size));
    if (key === undefined || value === undefined) return undefined;
    dict.set(key, value);
  }
  return dict;
}

function isKarg(karg: string): boolean {
  try {
    validateKarg(karg);
    return true;
  } catch {
    return false;
  }
}
