import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../../lib/errors.js';
import { ExecError, run, runUnchecked } from '../../../lib/exec.js';
import { ostree, ostreeUnchecked } from '../../ostree/ostree-cli.js';
import { ed25519PublicFromSecret, issuedBy, parseByteArrays, readSignKey, signatureIssuers } from './keys.js';

export interface OstreeBuild {
  version: string;
  features: string[];
}

let build: Promise<OstreeBuild> | undefined;

/** `ostree --version` lists the features the running ostree was built with (ed25519 needs libsodium). */
export function ostreeBuild(): Promise<OstreeBuild> {
  build ??= (async () => {
    const out = (await ostree(['--version'])).stdout;
    const version = /Version:\s*'?([^'\s]+)'?/.exec(out)?.[1] ?? 'unknown';
    const features = [...out.matchAll(/^\s*-\s*(\S+)\s*$/gm)].map((m) => m[1] ?? '');
    return { version, features };
  })();
  return build;
}

/** Fails with `signing-unsupported` unless this ostree can sign and verify ed25519. */
export async function requireEd25519(): Promise<void> {
  const b = await ostreeBuild();
  if (!b.features.includes('sign-ed25519')) {
    throw new AptOstreeError('signing-unsupported', `this ostree (${b.version}) was built without ed25519 signing`,
      'use a GPG key instead (an OpenPGP key file for --sign-key), or an ostree whose `ostree --version` lists sign-ed25519');
  }
}

export interface GpgSigner {
  type: 'gpg';
  homedir: string;
  /** What ostree is given (`gpg-sign`, `summary --gpg-sign`). */
  keyId: string;
  /** Primary and subkey fingerprints: a signature by any of them counts as signed by this key. */
  fingerprints: string[];
}

export interface Ed25519Signer {
  type: 'ed25519';
  secret: string;
  publicKey: string;
}

export type Signer = (GpgSigner | Ed25519Signer) & { close(): Promise<void> };

export interface SignerOptions {
  /** A key file, or with gpgHomedir a key id in that keyring. */
  signKey: string;
  gpgHomedir?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Opens what `--sign-key` names, checking that it can sign before the repository is touched: a key file is
 * classified, an OpenPGP secret key is imported into a private GNUPGHOME (0700, removed by close()) and used by
 * fingerprint; `--gpg-homedir DIR --sign-key KEYID` uses an existing keyring.
 */
export async function openSigner(opts: SignerOptions): Promise<Signer> {
  if (opts.gpgHomedir !== undefined) return existingKeyring(opts.gpgHomedir, opts.signKey, opts.signal);
  const key = await readSignKey(opts.signKey, 'secret');
  if (key.kind === 'ed25519-secret') {
    await requireEd25519();
    const secret = key.ed25519Keys[0] ?? '';
    return { type: 'ed25519', secret, publicKey: ed25519PublicFromSecret(secret), close: () => Promise.resolve() };
  }
  return importedKeyring(key.path, opts.signal);
}

const KEY_ID = /^(?:0x)?([0-9A-Fa-f]{8}|[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})!?$/;

async function existingKeyring(homedir: string, keyId: string, signal: AbortSignal | undefined): Promise<Signer> {
  const m = KEY_ID.exec(keyId);
  if (!m?.[1]) {
    throw new AptOstreeError('sign-key-invalid', `with --gpg-homedir, --sign-key must be a key id or fingerprint, not '${keyId}'`,
      `list the keys with \`gpg --homedir ${homedir} --list-secret-keys\``);
  }
  const st = await stat(homedir).catch(() => null);
  if (!st?.isDirectory()) {
    throw new AptOstreeError('sign-key-invalid', `the GPG home directory ${homedir} does not exist`, 'give the directory that holds the keyring');
  }
  const keys = await secretKeys(homedir, m[1], signal);
  const found = keys[0];
  if (found === undefined) {
    throw new AptOstreeError('sign-key-invalid', `no secret key ${keyId} in ${homedir}`,
      `list the keys with \`gpg --homedir ${homedir} --list-secret-keys\``);
  }
  await probeSigning(homedir, found.fingerprint, signal);
  return { type: 'gpg', homedir, keyId: m[1].toUpperCase(), fingerprints: found.fingerprints, close: () => Promise.resolve() };
}

async function importedKeyring(path: string, signal: AbortSignal | undefined): Promise<Signer> {
  const homedir = await mkdtemp(join(tmpdir(), 'apt-ostree-gnupg-'));
  const close = async (): Promise<void> => {
    // The agent gpg started for this home would otherwise outlive us, holding the directory's sockets.
    await runUnchecked(['gpgconf', '--homedir', homedir, '--kill', 'all']).catch(() => undefined);
    await rm(homedir, { recursive: true, force: true });
  };
  try {
    const imported = await gpg(homedir, ['--import', path], signal, true);
    if (imported.code !== 0) {
      throw new AptOstreeError('sign-key-invalid', `gpg could not import ${path}: ${oneLine(imported.stderr.trim()).slice(0, 300)}`,
        'export the key again with `gpg --armor --export-secret-keys KEYID`');
    }
    const keys = await secretKeys(homedir, undefined, signal);
    if (keys.length !== 1 || keys[0] === undefined) {
      throw new AptOstreeError('sign-key-invalid', `${path} holds ${keys.length} secret keys; one is needed`,
        'export the one key to sign with: `gpg --armor --export-secret-keys KEYID`');
    }
    await probeSigning(homedir, keys[0].fingerprint, signal);
    return { type: 'gpg', homedir, keyId: keys[0].fingerprint, fingerprints: keys[0].fingerprints, close };
  } catch (err) {
    await close();
    throw err;
  }
}

interface SecretKey {
  fingerprint: string;
  fingerprints: string[];
  canSign: boolean;
}

async function secretKeys(homedir: string, keyId: string | undefined, signal: AbortSignal | undefined): Promise<SecretKey[]> {
  const r = await gpg(homedir, ['--with-colons', '--fixed-list-mode', '--with-fingerprint', '--with-fingerprint',
    '--list-secret-keys', ...(keyId ? [keyId] : [])], signal, true);
  if (r.code !== 0) return [];
  const keys: SecretKey[] = [];
  let last: 'sec' | 'ssb' | undefined;
  for (const line of r.stdout.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'sec') {
      keys.push({ fingerprint: '', fingerprints: [], canSign: /S/.test(f[11] ?? '') });
      last = 'sec';
    } else if (f[0] === 'ssb') {
      last = 'ssb';
    } else if (f[0] === 'fpr' && last !== undefined) {
      const key = keys[keys.length - 1];
      const fpr = (f[9] ?? '').toUpperCase();
      if (key && fpr) {
        if (last === 'sec') key.fingerprint = fpr;
        key.fingerprints.push(fpr);
      }
      last = undefined;
    }
  }
  const usable = keys.filter((k) => k.fingerprint !== '');
  for (const k of usable) {
    if (!k.canSign) {
      throw new AptOstreeError('sign-key-invalid', `the GPG key ${k.fingerprint} can not sign (no signing capability)`,
        'use a key or subkey made for signing');
    }
  }
  return usable;
}

/**
 * A throwaway signature before anything is written: a passphrase-protected or expired key fails here, with
 * pinentry ruled out so that nothing waits for a prompt nobody sees.
 */
async function probeSigning(homedir: string, fingerprint: string, signal: AbortSignal | undefined): Promise<void> {
  const r = await gpg(homedir, ['--pinentry-mode', 'error', '--yes', '--local-user', fingerprint, '--detach-sign', '--output', '-'],
    signal, true, 'apt-ostree signing probe\n');
  if (r.code !== 0) {
    const detail = oneLine(r.stderr.trim()).slice(0, 300);
    throw new AptOstreeError('sign-key-invalid', `the GPG key ${fingerprint} can not sign: ${detail}`,
      /passphrase|pinentry|Operation cancelled|No pinentry|Bad passphrase/i.test(detail)
        ? 'the secret key is protected by a passphrase: export an unprotected copy for the build machine, or use --gpg-homedir with an agent that has it unlocked'
        : 'check that the key has not expired or been revoked (`gpg --list-secret-keys`)');
  }
}

async function gpg(homedir: string, args: string[], signal: AbortSignal | undefined, unchecked: boolean, input?: string) {
  const argv = ['gpg', '--homedir', homedir, '--batch', '--no-tty', '--quiet', ...args];
  // GPG_TTY would let a pinentry grab the caller's terminal; signing here must never prompt.
  const env = { ...process.env, GPG_TTY: '' };
  return unchecked ? runUnchecked(argv, { signal, env, input }) : run(argv, { signal, env, input });
}

/** Whether `commit` already carries a signature by the signer's key. */
export async function isSignedBy(repo: string, commit: string, signer: GpgSigner | Ed25519Signer): Promise<boolean> {
  if (signer.type === 'ed25519') {
    const r = await ostreeUnchecked(['sign', `--repo=${repo}`, '--verify', '--sign-type=ed25519', commit, signer.publicKey]);
    return r.code === 0;
  }
  const r = await ostreeUnchecked(['show', `--repo=${repo}`, '--print-detached-metadata-key=ostree.gpgsigs', commit]);
  if (r.code !== 0) return false;
  return parseByteArrays(r.stdout).some((sig) => issuedBy(signatureIssuers(sig), signer.fingerprints));
}

/** Adds the signer's signature to a commit's detached metadata. */
export async function signCommit(repo: string, commit: string, signer: GpgSigner | Ed25519Signer, signal?: AbortSignal): Promise<void> {
  try {
    if (signer.type === 'gpg') {
      await ostree(['gpg-sign', `--repo=${repo}`, `--gpg-homedir=${signer.homedir}`, commit, signer.keyId], { signal });
    } else {
      // `ostree sign` takes the secret key only as an argument (it has no secret key file option).
      await ostree(['sign', `--repo=${repo}`, '--sign-type=ed25519', commit, signer.secret], { signal });
    }
  } catch (err) {
    if (err instanceof ExecError) {
      throw new AptOstreeError('compose-failed', `signing commit ${commit.slice(0, 12)} failed: ${oneLine(err.result.stderr.trim()).slice(0, 300)}`,
        'check that the repository is writable and the key usable; nothing else was changed');
    }
    throw err;
  }
}

/** The ostree options that sign the summary with this key. */
export function summarySignArgs(signer: GpgSigner | Ed25519Signer): string[] {
  return signer.type === 'gpg'
    ? [`--gpg-sign=${signer.keyId}`, `--gpg-homedir=${signer.homedir}`]
    : ['--sign-type=ed25519', `--sign=${signer.secret}`];
}

export function signerKeyName(signer: GpgSigner | Ed25519Signer): string {
  return signer.type === 'gpg' ? signer.fingerprints[0] ?? signer.keyId : signer.publicKey;
}
