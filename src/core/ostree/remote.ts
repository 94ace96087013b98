import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { KeyFile } from '../../lib/keyfile.js';
import { ostreeUnchecked } from './ostree-cli.js';

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
      'list remotes with `ostree remote list`, or add one with `ostree remote add`');
  }
  return remote;
}
