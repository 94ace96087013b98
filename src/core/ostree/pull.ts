import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../lib/errors.js';
import { ExecError } from '../../lib/exec.js';
import type { ProgressSink } from '../progress.js';
import { printable } from '../refspec.js';
import { ostree } from './ostree-cli.js';
import { getRemote } from './remote.js';
import { revParse } from './repo.js';

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
    throw pullError(err, remote, rev);
  }
  const csum = /^[0-9a-f]{64}$/.test(rev) ? rev : await revParse(repo, `${remote}:${rev}`);
  if (csum === undefined) throw new AptOstreeError('internal', `pulled ${remote}:${rev} but can not resolve it`);
  return csum;
}

function pullError(err: unknown, remote: string, rev: string): unknown {
  if (!(err instanceof ExecError)) return err;
  const detail = oneLine(err.result.stderr.replace(/^error:\s*/m, '').trim());
  if (/404|No such branch|not found|No such file|does not exist|Couldn't find/i.test(detail) && !/Could not resolve|connect/i.test(detail)) {
    return new AptOstreeError('unknown-revision', `no commit matches '${printable(rev)}' on remote ${remote}`,
      `check the name, and list what the remote has with \`ostree remote refs ${remote}\``);
  }
  return new AptOstreeError('pull-failed', `pulling ${remote}:${rev} failed: ${detail}`,
    'check the network and the remote\'s URL (`ostree remote show-url ' + remote + '`)');
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
    const group = [`[remote "${remote}"]`, ...config.options.map(([k, v]) => `${k}=${v}`)].join('\n');
    await writeFile(join(repo, 'config'), `${await readConfig(repo)}\n${group}\n`);
    await copyFile(join(sysrootRepo, `${remote}.trustedkeys.gpg`), join(repo, `${remote}.trustedkeys.gpg`)).catch(() => undefined);
    return await fn(repo);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function readConfig(repo: string): Promise<string> {
  return (await readFile(join(repo, 'config'), 'utf8')).trimEnd();
}
