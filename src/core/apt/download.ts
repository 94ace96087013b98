/**
 * Downloading a plan's packages into the environment's archives/ with `apt-get --download-only`: apt verifies the
 * hashes from the signed indexes, keeps interrupted downloads in archives/partial/ and resumes them next time, and
 * skips what is already there. Progress comes from apt's status fd (`dlstatus:` lines, mapped to bytes with the
 * sizes --print-uris gave). Local .debs are used where they are.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AptOstreeError } from '../../lib/errors.js';
import { parseInstalledPackages } from '../packages.js';
import { silentProgress, type ProgressSink } from '../progress.js';
import type { AptEnvironment } from './apt-env.js';
import { aptErrors, archiveFileName, parseDownloadStatus, parseFetchFailures } from './apt-output.js';
import { writeHeldStatus } from './held-status.js';
import { versionSpec } from './package-records.js';
import type { LayeringPlan, PlannedPackage } from './plan.js';

export interface DownloadOptions {
  progress?: ProgressSink;
  signal?: AbortSignal;
}

const TITLE = 'Downloading packages';

export async function downloadPlan(env: AptEnvironment, plan: LayeringPlan, opts: DownloadOptions = {}): Promise<LayeringPlan> {
  const progress = opts.progress ?? silentProgress;
  const install = plan.install.map((p): PlannedPackage => ({ ...p }));
  const result: LayeringPlan = { ...plan, install };
  const fromRepository = install.filter((p) => p.debPath === undefined && !p.uri?.startsWith('file:'));
  for (const p of install) {
    if (p.debPath === undefined && p.uri?.startsWith('file:')) p.debPath = fileURLToPath(p.uri);
  }
  if (fromRepository.length === 0) return { ...result, downloadBytes: 0 };

  const missing: PlannedPackage[] = [];
  for (const p of fromRepository) {
    if (!(await isCachedIntact(path.join(env.archivesDir, archiveFileName(p)), p))) missing.push(p);
  }
  const bytesTotal = missing.reduce((sum, p) => sum + (p.size ?? 0), 0);

  if (missing.length > 0) {
    await writeHeldStatus(env, await heldFor(env, plan));
    progress.taskBegin(TITLE);
    try {
      await runDownload(env, plan, bytesTotal, progress, opts.signal);
    } finally {
      progress.taskEnd(TITLE);
    }
  }

  for (const p of fromRepository) {
    const file = path.join(env.archivesDir, archiveFileName(p));
    if (!(await stat(file).catch(() => null))?.isFile()) {
      throw new AptOstreeError('download-failed', `apt did not download ${p.name} ${p.version} (${archiveFileName(p)} is missing)`,
        'refresh the package lists with `apt-ostree refresh-md` and try again');
    }
    p.debPath = file;
  }
  return { ...result, downloadBytes: 0 };
}

/**
 * apt reuses a file in archives/ when its size is right, without checking its hash (apt 2.6), and nobody checks it
 * later since apt never runs dpkg here: a damaged cached file is removed so that apt fetches it again.
 */
async function isCachedIntact(file: string, pkg: PlannedPackage): Promise<boolean> {
  const cached = await stat(file).catch(() => null);
  if (!cached?.isFile()) return false;
  if (pkg.size !== undefined && cached.size !== pkg.size) return false;
  if (pkg.sha256 === undefined || await sha256File(file) === pkg.sha256) return true;
  await rm(file, { force: true });
  return false;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The same holds as during resolution: the base minus what the plan changes. */
async function heldFor(env: AptEnvironment, plan: LayeringPlan): Promise<Set<string>> {
  const base = parseInstalledPackages(await readFile(env.baseStatusFile, 'utf8'), env.baseStatusFile);
  const changed = new Set([...plan.install.map((p) => p.name), ...plan.remove.map((p) => p.name)]);
  return new Set(base.map((p) => p.name).filter((name) => !changed.has(name)));
}

async function runDownload(env: AptEnvironment, plan: LayeringPlan, bytesTotal: number, progress: ProgressSink,
  signal: AbortSignal | undefined): Promise<void> {
  // Every package of the plan at its planned version, so apt fetches exactly the plan even if the lists changed.
  const args = [
    ...plan.install.map((p) => (p.debPath !== undefined ? p.debPath : versionSpec(env, p))),
    ...plan.remove.map((r) => `${r.arch === env.arch || r.arch === 'all' ? r.name : `${r.name}:${r.arch}`}-`),
  ];
  const meter = rateMeter();
  const report = (bytesDone: number): void => {
    progress.download({ title: TITLE, bytesDone, bytesTotal, rate: meter(bytesDone) });
  };
  report(0);
  const result = await env.aptGet([
    '-q', '-y', '--download-only',
    // Nothing is removed or installed here (download only, and dpkg is /bin/false); a plan that removes an
    // essential base package on purpose must still download.
    '--allow-remove-essential',
    '-o', 'APT::Cmd::Pattern-Only=1',
    '-o', 'APT::Status-Fd=2',
    'install', ...args,
  ], {
    okCodes: [0, 100],
    ...(signal ? { signal } : {}),
    onStderrLine: (line) => {
      const status = parseDownloadStatus(line);
      if (status) report(Math.round((status.percent / 100) * bytesTotal));
    },
  });
  const failures = parseFetchFailures(result.stdout, result.stderr);
  if (result.code !== 0 || failures.length > 0) {
    const detail = failures.length > 0
      ? failures.map((f) => `${f.uri}: ${f.reason}`).join('; ')
      : aptErrors(result.stderr).join('; ') || result.stderr.trim();
    throw new AptOstreeError('download-failed', `could not download the packages: ${detail}`,
      'run the command again to resume (partial downloads are kept); if the mirror no longer has these versions, '
      + 'refresh the package lists with `apt-ostree refresh-md`');
  }
  report(bytesTotal);
}

/** Bytes per second, smoothed over the updates of the last few seconds. */
function rateMeter(): (bytesDone: number) => number {
  const samples: { at: number; bytes: number }[] = [];
  return (bytesDone) => {
    const now = performance.now();
    samples.push({ at: now, bytes: bytesDone });
    while (samples.length > 2 && now - (samples[0]?.at ?? now) > 5000) samples.shift();
    const first = samples[0];
    if (!first || now - first.at < 1) return 0;
    return Math.max(0, ((bytesDone - first.bytes) * 1000) / (now - first.at));
  };
}
