import { readFile, stat } from 'node:fs/promises';
import { AptOstreeError } from '../../../lib/errors.js';

/**
 * What a `--sign-key` file holds. The publisher and the client take the same option and we pick the signing system
 * from the file itself, so a user never has to say "gpg" or "ed25519", and a secret key handed to a client (or a
 * public key handed to the publisher) is refused before anything runs.
 */
export type SignKeyKind = 'gpg-secret' | 'gpg-public' | 'ed25519-secret' | 'ed25519-public';

export interface SignKey {
  kind: SignKeyKind;
  path: string;
  /** ed25519 only: the base64 keys as ostree reads them, one per line of the file. */
  ed25519Keys: string[];
}

const ED25519_SECRET_BYTES = 64;
const ED25519_PUBLIC_BYTES = 32;
/** A keyring export is a few kilobytes; anything far larger is not a key file. */
const MAX_KEY_FILE = 1024 * 1024;

// OpenPGP packet tags (RFC 4880 §4.3).
const TAG_SECRET_KEY = 5;
const TAG_PUBLIC_KEY = 6;
const TAG_SECRET_SUBKEY = 7;
const TAG_PUBLIC_SUBKEY = 14;

export function detectKeyKind(data: Uint8Array): SignKeyKind | undefined {
  const text = Buffer.from(data).toString('latin1');
  if (text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) return 'gpg-secret';
  if (text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) return 'gpg-public';
  const first = data[0];
  if (first !== undefined && (first & 0x80) !== 0) {
    const tag = (first & 0x40) !== 0 ? first & 0x3f : (first >> 2) & 0x0f;
    if (tag === TAG_SECRET_KEY || tag === TAG_SECRET_SUBKEY) return 'gpg-secret';
    if (tag === TAG_PUBLIC_KEY || tag === TAG_PUBLIC_SUBKEY) return 'gpg-public';
    return undefined;
  }
  const keys = ed25519Lines(text);
  if (keys === undefined || keys.length === 0) return undefined;
  const sizes = new Set(keys.map((k) => Buffer.from(k, 'base64').length));
  if (sizes.size !== 1) return undefined;
  if (sizes.has(ED25519_SECRET_BYTES)) return 'ed25519-secret';
  if (sizes.has(ED25519_PUBLIC_BYTES)) return 'ed25519-public';
  return undefined;
}

/** The base64 keys of an ostree ed25519 key file (one per line, `#` comments allowed); undefined if it is not one. */
export function ed25519Lines(text: string): string[] | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (!lines.every((l) => /^[A-Za-z0-9+/]+={0,2}$/.test(l) && l.length % 4 === 0)) return undefined;
  return lines;
}

/** ostree's ed25519 secret keys are libsodium's: the 32-byte seed followed by the 32-byte public key. */
export function ed25519PublicFromSecret(secret: string): string {
  return Buffer.from(secret, 'base64').subarray(ED25519_PUBLIC_BYTES).toString('base64');
}

const DESCRIPTION: Record<SignKeyKind, string> = {
  'gpg-secret': 'an OpenPGP secret key',
  'gpg-public': 'an OpenPGP public key',
  'ed25519-secret': 'an ed25519 secret key',
  'ed25519-public': 'an ed25519 public key',
};

/**
 * Reads and classifies a key file. `role` is what the caller needs: a publisher signs (secret), a client verifies
 * (public).
 */
export async function readSignKey(path: string, role: 'secret' | 'public'): Promise<SignKey> {
  let data: Buffer;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_KEY_FILE) throw new Error(`${st.size} bytes is too large for a key file`);
    data = await readFile(path);
  } catch (err) {
    throw new AptOstreeError('sign-key-invalid', `can not read the key file ${path}: ${err instanceof Error ? err.message : String(err)}`,
      'give the path of a key file');
  }
  const kind = detectKeyKind(data);
  if (kind === undefined) {
    throw new AptOstreeError('sign-key-invalid', `${path} is neither an OpenPGP key nor an ed25519 key in ostree's base64 format`,
      role === 'secret'
        ? 'export a GPG secret key (`gpg --armor --export-secret-keys KEYID > secret.asc`), or give a base64 ed25519 secret key'
        : 'export the GPG public key (`gpg --armor --export KEYID > public.asc`), or give the base64 ed25519 public key');
  }
  if (!kind.endsWith(`-${role}`)) {
    throw new AptOstreeError('sign-key-invalid', `${path} is ${DESCRIPTION[kind]}, but a ${role} key is needed here`,
      role === 'secret'
        ? 'publishing signs: give the secret key (the public one goes to the clients: `apt-ostree remote add … --sign-key`)'
        : 'clients verify: give the public key, and keep the secret key on the publishing machine');
  }
  const ed25519Keys = kind.startsWith('ed25519') ? ed25519Lines(data.toString('latin1')) ?? [] : [];
  if (kind === 'ed25519-secret' && ed25519Keys.length !== 1) {
    throw new AptOstreeError('sign-key-invalid', `${path} holds ${ed25519Keys.length} ed25519 secret keys; one is needed`,
      'put the one key to sign with in its own file');
  }
  return { kind, path, ed25519Keys };
}

/**
 * The issuers of the OpenPGP signatures in `data` (one or more signature packets), as upper-case hex: issuer
 * fingerprints and issuer key ids, whichever each signature carries. Used to tell whether a commit already has a
 * signature by a key without asking gpg to verify it (verification needs a trusted keyring, this does not).
 */
export function signatureIssuers(data: Uint8Array): string[] {
  const issuers: string[] = [];
  let at = 0;
  while (at < data.length) {
    const header = packetHeader(data, at);
    if (header === undefined) break;
    const body = data.subarray(header.bodyStart, Math.min(data.length, header.bodyStart + header.length));
    if (header.tag === 2) issuers.push(...signaturePacketIssuers(body));
    at = header.bodyStart + header.length;
  }
  return [...new Set(issuers)];
}

interface PacketHeader { tag: number; bodyStart: number; length: number }

function packetHeader(d: Uint8Array, at: number): PacketHeader | undefined {
  const b = d[at];
  if (b === undefined || (b & 0x80) === 0) return undefined;
  if ((b & 0x40) !== 0) {
    const l1 = d[at + 1];
    if (l1 === undefined) return undefined;
    if (l1 < 192) return { tag: b & 0x3f, bodyStart: at + 2, length: l1 };
    if (l1 < 224) return { tag: b & 0x3f, bodyStart: at + 3, length: ((l1 - 192) << 8) + (d[at + 2] ?? 0) + 192 };
    if (l1 === 255) return { tag: b & 0x3f, bodyStart: at + 6, length: readUint32(d, at + 2) };
    return undefined; // partial body lengths: never used for signature packets
  }
  const tag = (b >> 2) & 0x0f;
  switch (b & 0x03) {
    case 0: return { tag, bodyStart: at + 2, length: d[at + 1] ?? 0 };
    case 1: return { tag, bodyStart: at + 3, length: ((d[at + 1] ?? 0) << 8) | (d[at + 2] ?? 0) };
    case 2: return { tag, bodyStart: at + 5, length: readUint32(d, at + 1) };
    default: return { tag, bodyStart: at + 1, length: d.length - at - 1 };
  }
}

function readUint32(d: Uint8Array, at: number): number {
  return (((d[at] ?? 0) << 24) >>> 0) + ((d[at + 1] ?? 0) << 16) + ((d[at + 2] ?? 0) << 8) + (d[at + 3] ?? 0);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

function signaturePacketIssuers(body: Uint8Array): string[] {
  const version = body[0];
  if (version === 3) return body.length >= 15 ? [hex(body.subarray(7, 15))] : [];
  if (version !== 4 && version !== 5 && version !== 6) return [];
  const wide = version === 6; // v6 signatures use four-byte subpacket area lengths
  const issuers: string[] = [];
  let at = 4;
  for (let area = 0; area < 2 && at < body.length; area++) {
    const len = wide ? readUint32(body, at) : ((body[at] ?? 0) << 8) | (body[at + 1] ?? 0);
    at += wide ? 4 : 2;
    issuers.push(...subpacketIssuers(body.subarray(at, at + len)));
    at += len;
  }
  return issuers;
}

function subpacketIssuers(area: Uint8Array): string[] {
  const issuers: string[] = [];
  let at = 0;
  while (at < area.length) {
    const o = area[at] ?? 0;
    let len: number;
    if (o < 192) { len = o; at += 1; } else if (o < 255) { len = ((o - 192) << 8) + (area[at + 1] ?? 0) + 192; at += 2; } else { len = readUint32(area, at + 1); at += 5; }
    if (len === 0) break;
    const type = (area[at] ?? 0) & 0x7f;
    const data = area.subarray(at + 1, at + len);
    if (type === 16 && data.length === 8) issuers.push(hex(data));
    if (type === 33 && data.length > 1) issuers.push(hex(data.subarray(1)));
    at += len;
  }
  return issuers;
}

/** Whether any issuer names one of the key's fingerprints (a v4 key id is the fingerprint's last 16 digits). */
export function issuedBy(issuers: readonly string[], fingerprints: readonly string[]): boolean {
  return issuers.some((i) => fingerprints.some((f) => f === i || (i.length === 16 && f.endsWith(i))));
}

/** The byte arrays ostree prints for an `aay` metadata value: `[[byte 0x88, 0x75, …], [0x88, …]]`. */
export function parseByteArrays(text: string): Uint8Array[] {
  const arrays: Uint8Array[] = [];
  for (const m of text.matchAll(/\[(?:byte )?((?:0x[0-9a-fA-F]{2}(?:,\s*)?)+)\]/g)) {
    arrays.push(Uint8Array.from((m[1] ?? '').split(',').map((s) => Number.parseInt(s.trim(), 16))));
  }
  return arrays;
}
