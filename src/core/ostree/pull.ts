import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../lib/errors.js';
import { ExecError } from '../../lib/exec.js';
import { KeyFile } from '../../lib/keyfile.js';
import type { ProgressSink } from '../progress.js';
import { printable } from '../refspec.js';
import { ostree } from './ostree-cli.js';
import { getRemote } from './remote.js';
import { hasCommit, revParse } from './repo.js';

export interface PullOptions {
  progress: ProgressSink;
  signal?: AbortSignal | undefined;
  commitMetadataOnly?: boolean;
  /** Only this path of the commit (e.g. the dpkg database for a preview). */
  subpath?: string;
  depth?: number;
}

/** Pulls REF (or a checksum) from a remote and returns the checksum it now resolves to. */
export async function pull(repo: string, remote: string, rev: string, opts: PullOptions): Promise<string> {
  const args = ['pull', `--repo=${repo}`];
  if (opts.commitMetadataOnly) args.push('--commit-metadata-only');
  if (opts.subpath !== undefined) args.push(`--subpath=${opts.subpath}`);
  if (opts.depth !== undefined) args.push(`--depth=${opts.depth}`);
  args.push(remote, rev);
  try {
    await ostree(args, {
      signal: opts.signal,
      onStdoutLine: (line) => { if (line.trim() !== '') opts.progress.message(line.trim()); },
    });
  } catch (err) {
    throw await pullError(err, repo, remote, rev);
  }
  const csum = /^[0-9a-f]{64}$/.test(rev) ? rev : await revParse(repo, `${remote}:${rev}`);
  if (csum === undefined) throw new AptOstreeError('internal', `pulled ${remote}:${rev} but can not resolve it`);
  return csum;
}

async function pullError(err: unknown, repo: string, remote: string, rev: string): Promise<unknown> {
  if (!(err instanceof ExecError)) return err;
  const detail = oneLine(err.result.stderr.replace(/^error:\s*/m, '').trim());
  // Checked first: "public key not found" is no missing revision.
  const signature = signatureError(detail, remote);
  if (signature) {
    await dropStalePartialMarker(repo, detail);
    return signature;
  }
  if (/Remote "[^"]*" not found/.test(detail)) {
    return new AptOstreeError('no-remote', `the repository has no remote named '${remote}'`,
      `add it with \`apt-ostree remote add ${remote} URL --sign-key KEY\`, or rebase onto another remote`);
  }
  if (/404|No such branch|not found|No such file|does not exist|Couldn't find/i.test(detail) && !/Could not resolve|connect/i.test(detail)) {
    return new AptOstreeError('unknown-revision', `no commit matches '${printable(rev)}' on remote ${remote}`,
      `check the name, and list what the remote has with \`ostree remote refs ${remote}\``);
  }
  return new AptOstreeError('pull-failed', `pulling ${remote}:${rev} failed: ${detail}`,
    'check the network and the remote\'s URL (`ostree remote show-url ' + remote + '`)');
}

// libostree's texts (2022.7 to 2025.x) for a commit or summary that carries no signature the remote asks for…
const UNSIGNED = [
  /verification enabled, but no (?:summary )?signatures found/i,
  /verification enabled, but no summary(?:\.sig)? found/i,
  /Can't verify commit without detached metadata/,
  /Can't verify commit: No signatures found/,
  /^(?:Commit [0-9a-f]{64}: )?No signatures found/,
  /ed25519: no signatures found/,
];
// …and for signatures that are there but do not verify with the remote's keys.
const INVALID = [
  /BAD signature/,
  /public key not found/i,
  /none are in trusted keyring/i,
  /Signature couldn't be verified/i,
  /signature verification failed/i,
  /No valid signatures/i,
  /(?:key|signature) (?:has )?expired/i,
  /key (?:has been |was )?revoked/i,
  /no keys loaded|No keys found for required signapi/i,
];

/**
 * A pull refused for signatures: `unsigned-commit` when there is no signature to check, `signature-invalid` when
 * the signatures do not verify with the keys the remote trusts. ostree refuses before writing the commit, so the
 * refs and deployments are as they were.
 */
export function signatureError(detail: string, remote: string): AptOstreeError | undefined {
  const commit = /Commit ([0-9a-f]{64})/.exec(detail)?.[1];
  const what = commit ? `commit ${commit.slice(0, 12)} from remote ${remote}` : `the summary of remote ${remote}`;
  if (UNSIGNED.some((re) => re.test(detail))) {
    return new AptOstreeError('unsigned-commit', `${what} is not signed, and the remote requires signatures`,
      'nothing was changed; the publisher must sign it (`apt-ostree compose publish --sign-key KEY`)');
  }
  if (INVALID.some((re) => re.test(detail))) {
    const reason = detail.replace(/^Commit [0-9a-f]{64}:\s*/, '').slice(0, 300);
    return new AptOstreeError('signature-invalid', `the signature of ${what} does not verify with the remote's keys: ${reason}`,
      'nothing was changed; if the publisher changed keys, add the remote again with the new public key (`apt-ostree remote remove` and `remote add --sign-key`)');
  }
  return undefined;
}

/**
 * ostree marks a commit partial before it fetches it and leaves the marker when verification refuses it; without the
 * commit object the marker means nothing, so it goes and the repository is exactly as before.
 */
async function dropStalePartialMarker(repo: string, detail: string): Promise<void> {
  const commit = /Commit ([0-9a-f]{64})/.exec(detail)?.[1];
  if (commit === undefined || await hasCommit(repo, commit)) return;
  await rm(join(repo, 'state', `${commit}.commitpartial`), { force: true });
}

/**
 * A throwaway repository with the same remote configuration, for looking at what a remote offers without writing
 * a single object into the sysroot (upgrade --check / --preview, deploy by version).
 */
export async function withScratchRepo<T>(sysrootRepo: string, remote: string, fn: (repo: string) => Promise<T>): Promise<T> {
  const config = await getRemote(sysrootRepo, remote);
  const dir = await mkdtemp(join(process.env.APT_OSTREE_TMPDIR ?? '/var/tmp', 'apt-ostree-scratch-'));
  try {
    const repo = join(dir, 'repo');
    await ostree(['init', `--repo=${repo}`, '--mode=bare-user']);
    // The remote's verification settings come along (gpg-verify, sign-verify, their keys), so that looking at a
    // remote verifies exactly what an upgrade from it would.
    const scratchConfig = KeyFile.parse(await readFile(join(repo, 'config'), 'utf8'));
    for (const [k, v] of config.options) scratchConfig.set(`remote "${remote}"`, k, v);
    await writeFile(join(repo, 'config'), scratchConfig.toString());
    await copyFile(join(sysrootRepo, `${remote}.trustedkeys.gpg`), join(repo, `${remote}.trustedkeys.gpg`)).catch(() => undefined);
    return await fn(repo);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
