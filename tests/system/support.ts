import { spawn } from 'node:child_process';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/lib/exec.js';

export const CLI = fileURLToPath(new URL('../../dist/apt-ostree.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the bundled client (or another `bundle`) the way a user does, as a child process (the kit's HTTP server keeps
 * answering), with `env` added to the environment; without --sysroot when sysroot is undefined.
 */
export function cli(sysroot: string | undefined, args: readonly string[], env: NodeJS.ProcessEnv = {}, bundle = CLI): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...(sysroot !== undefined ? ['--sysroot', sysroot] : []), ...args], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('close', (code) => { resolve({ code: code ?? 1, stdout, stderr }); });
  });
}

/** Like cli() but fails the test with the command's output when it does not exit 0. */
export async function cliOk(sysroot: string | undefined, args: readonly string[], env?: NodeJS.ProcessEnv, bundle?: string): Promise<CliResult> {
  const r = await cli(sysroot, args, env, bundle);
  if (r.code !== 0) throw new Error(`apt-ostree ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

export async function cliJson<T>(sysroot: string | undefined, args: readonly string[], env?: NodeJS.ProcessEnv, bundle?: string): Promise<T> {
  return JSON.parse((await cliOk(sysroot, [...args, '--json'], env, bundle)).stdout) as T;
}

export interface AdminDeployment {
  osname: string;
  checksum: string;
  serial: number;
  pinned: boolean;
  booted: boolean;
}

/** `ostree admin status`, parsed: the reference our status must agree with. */
export async function adminStatus(sysroot: string): Promise<AdminDeployment[]> {
  const out = (await run(['ostree', 'admin', 'status', `--sysroot=${sysroot}`])).stdout;
  const deployments: AdminDeployment[] = [];
  for (const line of out.split('\n')) {
    const m = /^([* ]) (\S+) ([0-9a-f]{64})\.(\d+)/.exec(line);
    if (m) deployments.push({ booted: m[1] === '*', osname: m[2]!, checksum: m[3]!, serial: Number(m[4]), pinned: false });
    else if (/^\s+Pinned: yes/.test(line) && deployments.length > 0) deployments[deployments.length - 1]!.pinned = true;
  }
  return deployments;
}

/** Everything a failed command must leave as it was: deployments, boot entries and links, refs, origins. */
export async function snapshot(sysroot: string): Promise<string> {
  const parts: string[] = [];
  parts.push((await run(['ostree', 'admin', 'status', `--sysroot=${sysroot}`])).stdout);
  parts.push((await run(['ostree', 'refs', `--repo=${join(sysroot, 'ostree/repo')}`])).stdout.split('\n').sort().join('\n'));
  parts.push(`loader -> ${await readlink(join(sysroot, 'boot/loader'))}`);
  const entries = join(sysroot, 'boot/loader/entries');
  for (const name of (await readdir(entries)).sort()) parts.push(`${name}\n${await readFile(join(entries, name), 'utf8')}`);
  for (const os of await readdir(join(sysroot, 'ostree/deploy'))) {
    const dir = join(sysroot, 'ostree/deploy', os, 'deploy');
    for (const name of (await readdir(dir)).sort()) {
      parts.push(name);
      if (name.endsWith('.origin')) parts.push(await readFile(join(dir, name), 'utf8'));
    }
  }
  return parts.join('\n');
}

export async function fsckClean(sysroot: string): Promise<void> {
  await run(['ostree', 'fsck', `--repo=${join(sysroot, 'ostree/repo')}`]);
}

export async function bootOptions(sysroot: string): Promise<string[]> {
  const entries = join(sysroot, 'boot/loader/entries');
  const names = await readdir(entries);
  const withVersion = await Promise.all(names.map(async (n) => {
    const text = await readFile(join(entries, n), 'utf8');
    return { version: Number(/^version (\d+)/m.exec(text)?.[1] ?? 0), options: /^options (.*)$/m.exec(text)?.[1] ?? '' };
  }));
  return withVersion.sort((a, b) => b.version - a.version).map((e) => e.options.replace(/\s*ostree=\S+/, ''));
}

export interface StatusJson {
  deployments: {
    id: string; osname: string; serial: number; checksum: string; version: string | null; timestamp: number;
    booted: boolean; staged: boolean; pinned: boolean; rollback: boolean; origin: string | null; kargs: string[];
    'base-checksum': string | null; 'requested-packages': string[]; packages: string[]; 'inactive-requests': string[];
    'base-removals': string[]; 'base-replacements': string[];
  }[];
  transaction: null;
}
