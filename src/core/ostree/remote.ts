import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../lib/errors.js';
import { KeyFile } from '../../lib/keyfile.js';
import { ostree, ostreeUnchecked } from './ostree-cli.js';

export interface RemoteConfig {
  name: string;
  url: string;
  /** The remote's own `[remote "NAME"]` key-value pairs (gpg-verify, sign-verify, branches…). */
  options: [string, string][];
}

export async function listRemotes(repo: string): Promise<RemoteConfig[]> {
  const config = KeyFile.parse(await readFile(join(repo, 'config'), 'utf8'));
  const remotes: RemoteConfig[] = [];
  for (const group of config.groups()) {
    const m = /^remote "(.+)"$/.exec(group);
    if (!m?.[1]) continue;
    const r = await ostreeUnchecked(['remote', 'show-url', `--repo=${repo}`, m[1]]);
    const options = rawGroupEntries(config, group);
    remotes.push({ name: m[1], url: r.code === 0 ? r.stdout.trim() : (config.get(group, 'url') ?? ''), options });
  }
  return remotes;
}

function rawGroupEntries(config: KeyFile, group: string): [string, string][] {
  const text = config.toString().split('\n');
  const start = text.indexOf(`[${group}]`);
  const out: [string, string][] = [];
  for (let i = start + 1; i > 0 && i < text.length; i++) {
    const line = text[i] ?? '';
    if (line.startsWith('[')) break;
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) out.push([line.slice(0, eq).trim(), config.get(group, line.slice(0, eq).trim()) ?? '']);
  }
  return out;
}

export async function getRemote(repo: string, name: string): Promise<RemoteConfig> {
  const remote = (await listRemotes(repo)).find((r) => r.name === name);
  if (remote === undefined) {
    throw new AptOstreeError('no-remote', `the repository has no remote named '${name}'`,
      'list remotes with `apt-ostree remote list`, or add one with `apt-ostree remote add NAME URL --sign-key KEY`');
  }
  return remote;
}

export type Verification = 'gpg' | 'ed25519' | 'none';

function option(remote: RemoteConfig, key: string): string | undefined {
  return remote.options.findLast(([k]) => k === key)?.[1];
}

function truthy(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

/** The signature engines a sign-verify(-summary) value turns on: `true`, or a list like `ed25519;dummy`. */
function signEngines(remote: RemoteConfig, key: string): string[] {
  const value = option(remote, key);
  if (value === undefined || value === '' || value === 'false' || value === '0') return [];
  if (truthy(value)) {
    return remote.options.flatMap(([k]) => /^verification-(.+)-(?:key|file)$/.exec(k)?.[1] ?? []);
  }
  return value.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * How commits from a remote are verified, as libostree decides it: gpg-verify is on unless set to false, and
 * sign-verify names the signature engines. When both are on both apply; ed25519 is the one reported.
 */
export function commitVerification(remote: RemoteConfig): Verification {
  if (signEngines(remote, 'sign-verify').includes('ed25519')) return 'ed25519';
  const gpg = option(remote, 'gpg-verify');
  return gpg === undefined || truthy(gpg) ? 'gpg' : 'none';
}

/** How the summary is verified (both default to off in libostree). */
export function summaryVerification(remote: RemoteConfig): Verification {
  if (signEngines(remote, 'sign-verify-summary').includes('ed25519')) return 'ed25519';
  return truthy(option(remote, 'gpg-verify-summary')) ? 'gpg' : 'none';
}

export function remoteBranches(remote: RemoteConfig): string[] {
  return (option(remote, 'branches') ?? '').split(';').map((s) => s.trim()).filter((s) => s !== '');
}

/** Remote names ostree knows for the repository, /etc/ostree/remotes.d included (our config reading sees only config). */
export async function remoteNames(repo: string): Promise<string[]> {
  const r = await ostreeUnchecked(['remote', 'list', `--repo=${repo}`]);
  const fromCli = r.code === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '') : [];
  return [...new Set([...fromCli, ...(await listRemotes(repo)).map((x) => x.name)])];
}

export interface AddRemoteOptions {
  branches: readonly string[];
  /** An OpenPGP public key file: imported into `<repo>/<name>.trustedkeys.gpg`, commits and summary verified. */
  gpgKeyFile?: string | undefined;
  /** ed25519 public keys (base64): commits and summary verified with them instead of GPG. */
  ed25519Keys?: readonly string[] | undefined;
}

/** The file holding a remote's ed25519 keys when there are several (one fits inline in the config). */
export function ed25519KeyFile(repo: string, name: string): string {
  return join(repo, `${name}.trustedkeys.ed25519`);
}

export async function addRemote(repo: string, name: string, url: string, opts: AddRemoteOptions): Promise<void> {
  const args = ['remote', 'add', `--repo=${repo}`];
  if (opts.gpgKeyFile !== undefined) {
    args.push(`--gpg-import=${opts.gpgKeyFile}`, '--set=gpg-verify=true', '--set=gpg-verify-summary=true');
  } else if (opts.ed25519Keys !== undefined && opts.ed25519Keys.length > 0) {
    // gpg-verify defaults to true and would reject commits that carry only ed25519 signatures.
    args.push('--no-gpg-verify', '--set=sign-verify-summary=ed25519');
    if (opts.ed25519Keys.length === 1) {
      args.push(`--sign-verify=ed25519=inline:${opts.ed25519Keys[0] ?? ''}`);
    } else {
      const file = ed25519KeyFile(repo, name);
      await writeFile(file, `${opts.ed25519Keys.join('\n')}\n`, { mode: 0o644 });
      args.push(`--sign-verify=ed25519=file:${file}`);
    }
  } else {
    args.push('--no-gpg-verify');
  }
  // ostree's option parser does not take `--`: callers validate that name, URL and branches can not look like options.
  args.push(name, url, ...opts.branches);
  const r = await ostreeUnchecked(args);
  if (r.code !== 0) {
    // ostree writes the config before importing keys: a failed import must not leave a half-made remote.
    if ((await listRemotes(repo)).some((x) => x.name === name)) await ostreeUnchecked(['remote', 'delete', `--repo=${repo}`, name]);
    await rm(ed25519KeyFile(repo, name), { force: true });
    throw new AptOstreeError('command-failed', `ostree remote add failed: ${oneLine(r.stderr.trim()).slice(0, 300)}`,
      opts.gpgKeyFile !== undefined ? 'check that the key file is a valid OpenPGP public key export' : 'see the message above');
  }
}

export async function deleteRemote(repo: string, name: string): Promise<void> {
  await ostree(['remote', 'delete', `--repo=${repo}`, name]);
  await rm(ed25519KeyFile(repo, name), { force: true });
}
