/**
 * `apt-get update` for the private environment. It runs into a staging copy of the lists (hardlinks: apt replaces
 * list files by renaming, never in place), which replaces the old lists only when every repository answered: a
 * failed refresh leaves the lists exactly as they were, rather than half new, half missing.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { silentProgress, type ProgressSink } from '../progress.js';
import type { AptEnvironment } from './apt-env.js';
import { writeByRename } from './apt-env.js';
import { aptErrors, parseDownloadStatus, parseFetchFailures } from './apt-output.js';

export interface RefreshOptions {
  /** Update even when the lists are fresh. */
  force?: boolean;
  /** Lists younger than this (and made from the same sources) are fresh; default one hour. */
  maxAgeSeconds?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export interface RefreshResult {
  /** False when the lists were fresh and apt was not run. */
  updated: boolean;
  /** Age of the lists in use, in seconds (0 right after an update). */
  ageSeconds: number;
}

interface Stamp {
  updatedAt: number;
  sources: string;
}

const TITLE = 'Updating package lists';

export async function refreshMetadata(env: AptEnvironment, opts: RefreshOptions = {}): Promise<RefreshResult> {
  const progress = opts.progress ?? silentProgress;
  const stampFile = path.join(env.cacheDir, 'lists.stamp');
  const sources = await sourcesFingerprint(env);
  const stamp = await readStamp(stampFile);
  const maxAge = (opts.maxAgeSeconds ?? 3600) * 1000;
  if (!opts.force && stamp?.sources === sources && Date.now() - stamp.updatedAt < maxAge && await hasLists(env.listsDir)) {
    return { updated: false, ageSeconds: Math.round((Date.now() - stamp.updatedAt) / 1000) };
  }

  const staging = `${env.listsDir}.new`;
  await rm(staging, { recursive: true, force: true });
  await linkTree(env.listsDir, staging);
  await mkdir(path.join(staging, 'partial'), { recursive: true });
  progress.taskBegin(TITLE);
  try {
    // No binary cache: it would record the staging paths and be rebuilt on the next call anyway.
    const result = await env.aptGet(['-q', '-o', `Dir::State::lists=${staging}/`, '-o', 'APT::Status-Fd=2',
      '-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache=', 'update'], {
      okCodes: [0, 100],
      ...(opts.signal ? { signal: opts.signal } : {}),
      onStdoutLine: (line) => { if (/^(Get|Hit|Err):/.test(line)) progress.message(line); },
      onStderrLine: (line) => {
        const status = parseDownloadStatus(line);
        if (status) progress.percent(TITLE, status.percent);
      },
    });
    const failures = parseFetchFailures(result.stdout, result.stderr);
    if (failures.length > 0) {
      throw new AptOstreeError('repository-unreachable',
        `could not update the package lists: ${failures.map((f) => `${f.uri}: ${f.reason}`).join('; ')}`,
        'check the network and the repositories in /etc/apt/sources.list and sources.list.d; the previous package lists were kept');
    }
    if (result.code !== 0) {
      throw new AptOstreeError('command-failed', `apt-get update failed: ${aptErrors(result.stderr).join('; ') || result.stderr.trim()}`,
        'the previous package lists were kept');
    }
    await swapIn(staging, env.listsDir);
    await writeByRename(stampFile, `${JSON.stringify({ updatedAt: Date.now(), sources } satisfies Stamp)}\n`);
    return { updated: true, ageSeconds: 0 };
  } finally {
    progress.taskEnd(TITLE);
    await rm(staging, { recursive: true, force: true });
  }
}

/** What the lists are made from: the sources, and the architectures (apt fetches one Packages file per arch). */
async function sourcesFingerprint(env: AptEnvironment): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`architectures ${env.architectures.join(' ')}\n`);
  const add = async (file: string): Promise<void> => {
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text !== null) hash.update(`${file}\n${text}\n`);
  };
  await add(path.join(env.etcAptDir, 'sources.list'));
  const partsDir = path.join(env.etcAptDir, 'sources.list.d');
  const parts = await readdir(partsDir).catch(() => []);
  for (const name of parts.sort()) await add(path.join(partsDir, name));
  return hash.digest('hex');
}

async function readStamp(file: string): Promise<Stamp | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Stamp>;
    return typeof parsed.updatedAt === 'number' && typeof parsed.sources === 'string'
      ? { updatedAt: parsed.updatedAt, sources: parsed.sources }
      : null;
  } catch {
    return null;
  }
}

/** Lists exist when the directory holds at least one index (not just partial/ and auxfiles/). */
async function hasLists(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.some((e) => e.isFile() && e.name !== 'lock');
}

/** A copy of `from` made of hardlinks (directories recreated), without partial downloads. */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const entries = await readdir(from, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.name === 'partial' || entry.name === 'lock') continue;
    const src = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory()) await linkTree(src, dest);
    else if (entry.isFile()) await link(src, dest);
  }
}

/** Replaces `target` by `staging`; a crash in between leaves no lists, which only means updating again. */
async function swapIn(staging: string, target: string): Promise<void> {
  const old = `${target}.old`;
  await rm(old, { recursive: true, force: true });
  if (await stat(target).catch(() => null)) await rename(target, old);
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
}
