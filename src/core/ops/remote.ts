import { AptOstreeError } from '../../lib/errors.js';
import { readSignKey, type SignKey } from '../compose/publish/keys.js';
import { requireEd25519 } from '../compose/publish/signing.js';
import { deploymentOriginRefspec } from '../origin.js';
import {
  addRemote, commitVerification, deleteRemote, getRemote, listRemotes, remoteBranches, remoteNames, summaryVerification,
  type Verification,
} from '../ostree/remote.js';
import { printable } from '../refspec.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import { withSysrootLock, type EngineOptions } from './context.js';

/**
 * The sysroot repository's remotes: where upgrades come from and which keys their commits must be signed with.
 * These run in the calling process (root only) under the sysroot lock, not as apt-ostreed transactions: they are
 * one config edit each, with nothing to report while they run.
 */
export interface RemoteInfo {
  name: string;
  url: string;
  /** How commits are verified: gpg (the remote's keyring), ed25519 (sign-verify), or none. */
  verification: Verification;
  /** How the summary (the list of refs) is verified. */
  summaryVerification: Verification;
  branches: string[];
}

export interface RemoteAddRequest {
  name: string;
  url: string;
  /** A public key file: OpenPGP (armored or binary) or ed25519 (base64, one per line). */
  signKey?: string | undefined;
  branches?: readonly string[] | undefined;
  /** Add it without verification, on purpose: no warning. */
  noSignVerify?: boolean | undefined;
}

export interface RemoteAddResult {
  remote: RemoteInfo;
  /** Said when commits from the remote will not be verified and nobody asked for that. */
  warning: string | null;
}

export interface RemoteRemoveResult {
  name: string;
  /** Deployments (osname and checksum) whose origin follows the removed remote: their upgrades fail until it is back. */
  followedBy: string[];
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
// ostree_validate_rev: path components of [\w.-]+.
const BRANCH = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9._-]+)*$/;

export function validateRemoteName(name: string): void {
  if (!NAME.test(name) || name.length > 255) {
    throw new AptOstreeError('invalid-argument', `'${printable(name)}' is not a valid remote name`,
      'use letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`');
  }
}

export function validateRemoteUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  // Whitespace or control characters would end up in the repository's config file.
  // eslint-disable-next-line no-control-regex
  if (parsed === undefined || /[\s\x00-\x1f\x7f]/.test(url) || !['http:', 'https:', 'file:'].includes(parsed.protocol)) {
    throw new AptOstreeError('invalid-argument', `'${printable(url)}' is not an http, https or file URL`,
      'give the URL the repository is served at, e.g. https://updates.example.com/ostree/repo');
  }
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new AptOstreeError('not-root', `${what} changes the system's remotes and needs root`, 'run it with sudo');
  }
}

function info(remote: Awaited<ReturnType<typeof listRemotes>>[number]): RemoteInfo {
  return {
    name: remote.name,
    url: remote.url,
    verification: commitVerification(remote),
    summaryVerification: summaryVerification(remote),
    branches: remoteBranches(remote),
  };
}

export async function remoteList(opts: Pick<EngineOptions, 'sysroot'>): Promise<RemoteInfo[]> {
  const sysroot = await loadSysroot(opts.sysroot);
  return (await listRemotes(sysroot.repoPath)).map(info);
}

export async function remoteAdd(opts: EngineOptions, req: RemoteAddRequest): Promise<RemoteAddResult> {
  validateRemoteName(req.name);
  validateRemoteUrl(req.url);
  const branches = [...new Set(req.branches ?? [])];
  for (const b of branches) {
    if (!BRANCH.test(b)) {
      throw new AptOstreeError('invalid-refspec', `'${printable(b)}' is not a valid branch name`, 'a branch is a ref like debian/13/x86_64/standard');
    }
  }
  if (req.signKey !== undefined && req.noSignVerify) {
    throw new AptOstreeError('usage', '--sign-key and --no-sign-verify contradict each other', 'give one or the other');
  }
  requireRoot('remote add');
  const key: SignKey | undefined = req.signKey === undefined ? undefined : await readSignKey(req.signKey, 'public');
  if (key?.kind === 'ed25519-public') await requireEd25519();
  return withSysrootLock(opts, `remote add ${req.name}`, async () => {
    const repo = (await loadSysroot(opts.sysroot)).repoPath;
    if ((await remoteNames(repo)).includes(req.name)) {
      throw new AptOstreeError('remote-exists', `a remote named '${req.name}' already exists`,
        `remove it first (\`apt-ostree remote remove ${req.name}\`), or pick another name`);
    }
    await addRemote(repo, req.name, req.url, {
      branches,
      gpgKeyFile: key?.kind === 'gpg-public' ? key.path : undefined,
      ed25519Keys: key?.kind === 'ed25519-public' ? key.ed25519Keys : undefined,
    });
    const remote = info(await getRemote(repo, req.name));
    const warning = key === undefined && !req.noSignVerify
      ? `warning: remote ${req.name} has no signing key: commits pulled from it will not be verified (give --sign-key PUBLIC-KEY, or --no-sign-verify to say it is on purpose)`
      : null;
    return { remote, warning };
  });
}

export async function remoteRemove(opts: EngineOptions, name: string): Promise<RemoteRemoveResult> {
  validateRemoteName(name);
  requireRoot('remote remove');
  return withSysrootLock(opts, `remote remove ${name}`, async () => {
    const sysroot = await loadSysroot(opts.sysroot);
    await getRemote(sysroot.repoPath, name);
    await deleteRemote(sysroot.repoPath, name);
    const followedBy = sysroot.deployments
      .filter((d) => deploymentOriginRefspec(d)?.startsWith(`${name}:`) ?? false)
      .map((d) => `${d.osname} ${d.checksum.slice(0, 12)}.${d.serial}`);
    return { name, followedBy };
  });
}
