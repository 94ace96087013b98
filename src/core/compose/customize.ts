/**
 * The treefile's changes to a plain image root, before the base image contract: remove-files, add-files, units to
 * enable, the default target and the postprocess scripts (bubblewrap, image as `/`, no network).
 */
import { chmod, copyFile, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { runInRoot } from './root-sandbox.js';
import { lstatOrNull, readdirOrEmpty } from './tree-fs.js';
import type { LoadedTreefile } from './treefile/index.js';

export interface CustomizeOptions {
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface CustomizeReport {
  removed: string[];
  added: string[];
  enabled: string[];
  scripts: number;
}

const SCRIPT_IN_SANDBOX = '/run/apt-ostree/postprocess';

export async function customizeRoot(root: string, loaded: LoadedTreefile, opts: CustomizeOptions = {}): Promise<CustomizeReport> {
  const tf = loaded.treefile;
  const { removed, added } = await applyTreefileFiles(root, tf);
  if (tf.units.length > 0) {
    await inRoot(root, ['systemctl', 'enable', ...tf.units], 'units', opts);
  }
  if (tf['default-target'] !== undefined) {
    await inRoot(root, ['systemctl', 'set-default', tf['default-target']], 'default-target', opts);
  }
  for (const [i, script] of tf.postprocess.entries()) {
    await runPostprocessScript(root, script, i, opts);
  }
  return { removed, added, enabled: [...tf.units], scripts: tf.postprocess.length };
}

/**
 * The treefile's remove-files (`rm -rf` of every match, see globInRoot), then its add-files (copied over whatever is
 * there, directories with their symlinks as they are, then the mode). Returns the image paths removed and added.
 */
export async function applyTreefileFiles(root: string, tf: LoadedTreefile['treefile']): Promise<Pick<CustomizeReport, 'removed' | 'added'>> {
  const removed: string[] = [];
  for (const pattern of tf['remove-files']) {
    for (const rel of await globInRoot(root, pattern)) {
      await rm(join(root, rel), { recursive: true, force: true });
      removed.push(`/${rel}`);
    }
  }
  const added: string[] = [];
  for (const file of tf['add-files']) {
    const dest = join(root, file.dest.replace(/^\/+/, ''));
    await mkdir(dirname(dest), { recursive: true });
    await rm(dest, { force: true, recursive: true });
    if ((await lstatOrNull(file.src))?.isDirectory()) await cp(file.src, dest, { recursive: true, verbatimSymlinks: true });
    else await copyFile(file.src, dest);
    if (file.mode !== undefined) await chmod(dest, parseInt(file.mode, 8));
    added.push(file.dest);
  }
  return { removed, added };
}

async function inRoot(root: string, argv: readonly string[], key: string, opts: CustomizeOptions): Promise<void> {
  if (!(await lstatOrNull(join(root, 'usr/bin/systemctl')))) {
    throw new AptOstreeError('compose-failed', `${key}: the image has no systemctl`, 'add systemd to the packages');
  }
  // systemctl reports every link and sysusers entry it makes: only shown when it fails.
  const r = await runInRoot(root, argv, { signal: opts.signal });
  if (r.code !== 0) {
    throw new AptOstreeError('compose-failed', `${key}: \`${argv.join(' ')}\` exited with status ${r.code}: ${r.tail.slice(-3).join('; ')}`,
      'check the unit names against the packages the image installs');
  }
}

type Script = LoadedTreefile['treefile']['postprocess'][number];

async function runPostprocessScript(root: string, script: Script, index: number, opts: CustomizeOptions): Promise<void> {
  const dir = join(root, 'tmp', `.apt-ostree-postprocess-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const host = join(dir, `script-${index}`);
  try {
    if (script.kind === 'file') await copyFile(script.path, host);
    else await writeFile(host, script.text);
    await chmod(host, 0o755);
    const text = script.kind === 'inline' ? script.text : '';
    // A script without a #! line is a shell snippet, as rpm-ostree's inline postprocess entries are; -e stops it at
    // its first failing command.
    const shebang = script.kind === 'file' ? await hasShebang(host) : text.startsWith('#!');
    const argv = shebang ? [SCRIPT_IN_SANDBOX] : ['/bin/sh', '-e', SCRIPT_IN_SANDBOX];
    const r = await runInRoot(root, argv, {
      binds: [{ src: host, dest: SCRIPT_IN_SANDBOX, ro: true }], onLine: opts.onLine, signal: opts.signal,
    });
    if (r.code !== 0) {
      const last = r.tail.slice(-3).join('; ');
      throw new AptOstreeError('postprocess-failed', `${script.where}: postprocess script exited with status ${r.code}${last ? `: ${last}` : ''}`,
        'fix the script; it runs in the image root with no network, after the packages and add-files');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function hasShebang(path: string): Promise<boolean> {
  return (await readFile(path)).subarray(0, 2).toString() === '#!';
}

/**
 * Paths under `root` matching an absolute image path whose components may hold `*` (any characters but `/`).
 * Symlinks are not followed into other directories, so a pattern can not reach outside the image.
 */
export async function globInRoot(root: string, pattern: string): Promise<string[]> {
  let matches = [''];
  for (const part of pattern.split('/').filter((p) => p !== '')) {
    const next: string[] = [];
    for (const dir of matches) {
      if (!part.includes('*')) {
        const rel = dir === '' ? part : `${dir}/${part}`;
        if (await lstatOrNull(join(root, rel))) next.push(rel);
        continue;
      }
      if (dir !== '' && !(await lstatOrNull(join(root, dir)))?.isDirectory()) continue;
      const re = new RegExp(`^${part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
      for (const name of await readdirOrEmpty(join(root, dir))) if (re.test(name)) next.push(dir === '' ? name : `${dir}/${name}`);
    }
    matches = next;
  }
  return matches.filter((m) => m !== '');
}
