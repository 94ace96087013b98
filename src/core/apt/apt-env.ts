/**
 * A private apt for one tree: the sources and settings of the deployment's /etc/apt, the package state of the base
 * commit, and lists and archives of our own. apt only resolves and downloads here. It never runs dpkg: the
 * `Dir::State::status` setting does not make the dpkg that apt starts use another root, so an apt-get that ran
 * dpkg would install onto the host. `Dir::Bin::dpkg "/bin/false"` makes sure it can not.
 */
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { run, type ExecOptions, type ExecResult } from '../../lib/exec.js';
import { isValidArchitecture } from './package-request.js';

export interface AptEnvironmentOptions {
  /** The merge deployment's etc/apt (sources.list(.d), preferences.d, trusted.gpg.d, apt.conf(.d)). */
  etcAptDir: string;
  /** The base commit's dpkg status file. Read only: apt works on a copy. */
  statusFile: string;
  /** The base commit's apt extended_states (auto/manual marks); may be missing. Read only. */
  extendedStatesFile: string;
  /** Persistent per-system cache: lists/, archives/ (with partial/ for resumed downloads), apt.conf. */
  cacheDir: string;
  /** dpkg's native architecture of the tree; default: the host's. */
  arch?: string;
  /** Foreign architectures; default: those in the `arch` file of the status file's dpkg database. */
  foreignArchitectures?: readonly string[];
  /** apt's APT::Install-Recommends; default false, as an image should only grow by what was asked for. */
  installRecommends?: boolean;
  /** apt's Acquire::Retries (apt backs off 1 s, 2 s, 4 s… between them); default: apt's own. */
  retries?: number;
}

/**
 * One operation at a time per environment (and per cacheDir): resolution rewrites the status copy, and a second
 * environment on the same cacheDir rewrites apt.conf.
 */
export interface AptEnvironment {
  readonly cacheDir: string;
  /** The APT_CONFIG file: `APT_CONFIG=<it> apt-cache policy` shows what apt-ostree's apt sees. */
  readonly configFile: string;
  readonly etcAptDir: string;
  /** The base commit's files, never written. */
  readonly baseStatusFile: string;
  readonly baseExtendedStatesFile: string;
  /** The copies apt reads (resolution writes holds into the status copy). */
  readonly statusFile: string;
  readonly extendedStatesFile: string;
  readonly listsDir: string;
  readonly archivesDir: string;
  readonly arch: string;
  /** Native first, then foreign ones. */
  readonly architectures: readonly string[];
  /** Runs apt-get with this environment; args after apt's options (commands, packages, more -o). */
  aptGet(args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  aptCache(args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** The full argv of apt-get/apt-cache with this environment (for logs and error messages). */
  argv(tool: 'apt-get' | 'apt-cache', args: readonly string[]): string[];
  /** The process environment apt runs with. */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Hooks in the deployment's apt.conf.d would run on the host, with the host's /usr, when apt updates or (for
 * DPkg::*) would run dpkg. They are meant for the system they are installed in, not for a tree being assembled.
 */
const CLEARED_HOOKS = [
  'APT::Update::Pre-Invoke',
  'APT::Update::Post-Invoke',
  'APT::Update::Post-Invoke-Success',
  'DPkg::Pre-Invoke',
  'DPkg::Post-Invoke',
  'DPkg::Pre-Install-Pkgs',
  'DPkg::Post-Invoke-Success',
];

export async function createAptEnvironment(opts: AptEnvironmentOptions): Promise<AptEnvironment> {
  const cacheDir = path.resolve(opts.cacheDir);
  const etcAptDir = path.resolve(opts.etcAptDir);
  const baseStatusFile = path.resolve(opts.statusFile);
  const baseExtendedStatesFile = path.resolve(opts.extendedStatesFile);
  for (const p of [cacheDir, etcAptDir, baseStatusFile, baseExtendedStatesFile]) assertConfigSafePath(p);
  if (!(await stat(baseStatusFile).catch(() => null))?.isFile()) {
    throw new AptOstreeError('no-package-database', `no dpkg status file at ${baseStatusFile}`,
      'the base commit must carry its dpkg database (see the base image contract)');
  }
  const stateDir = path.join(cacheDir, 'state');
  const listsDir = path.join(cacheDir, 'lists');
  const archivesDir = path.join(cacheDir, 'archives');
  const partsDir = path.join(cacheDir, 'apt.conf.d');
  for (const dir of [stateDir, path.join(listsDir, 'partial'), path.join(archivesDir, 'partial'), path.join(cacheDir, 'log'), partsDir]) {
    await mkdir(dir, { recursive: true });
  }
  const statusFile = path.join(stateDir, 'status');
  const extendedStatesFile = path.join(stateDir, 'extended_states');
  // Copies, so that nothing apt does (and not the holds that resolution writes) can touch the base commit's files.
  await copyByRename(baseStatusFile, statusFile);
  if ((await stat(baseExtendedStatesFile).catch(() => null))?.isFile()) {
    await copyByRename(baseExtendedStatesFile, extendedStatesFile);
  } else {
    await writeByRename(extendedStatesFile, '');
  }

  const arch = opts.arch ?? await hostArchitecture();
  const foreign = opts.foreignArchitectures ?? await dpkgDatabaseArchitectures(path.dirname(baseStatusFile));
  const architectures = [...new Set([arch, ...foreign])];
  for (const a of architectures) {
    if (!isValidArchitecture(a)) throw new AptOstreeError('invalid-argument', `invalid architecture ${JSON.stringify(a)}`);
  }

  const configFile = path.join(cacheDir, 'apt.conf');
  const includes: string[] = [];
  if ((await stat(path.join(etcAptDir, 'apt.conf.d')).catch(() => null))?.isDirectory()) {
    includes.push(`#include "${path.join(etcAptDir, 'apt.conf.d')}/";`);
  }
  if ((await stat(path.join(etcAptDir, 'apt.conf')).catch(() => null))?.isFile()) {
    includes.push(`#include "${path.join(etcAptDir, 'apt.conf')}";`);
  }
  const settings: [string, string][] = [
    ['Dir::Etc', `${etcAptDir}/`],
    // Both already included above, where our settings below can override them; apt must not read them again later.
    ['Dir::Etc::main', '/dev/null'],
    ['Dir::Etc::parts', `${partsDir}/`],
    ['Dir::State', `${stateDir}/`],
    ['Dir::State::lists', `${listsDir}/`],
    ['Dir::State::status', statusFile],
    ['Dir::State::extended_states', extendedStatesFile],
    ['Dir::Cache', `${cacheDir}/`],
    ['Dir::Cache::archives', `${archivesDir}/`],
    ['Dir::Log', `${path.join(cacheDir, 'log')}/`],
    ['Dir::Bin::dpkg', '/bin/false'],
    ['Debug::NoLocking', 'true'],
    ['APT::Sandbox::User', 'root'],
    ['APT::Install-Recommends', opts.installRecommends ? 'true' : 'false'],
    ['APT::Install-Suggests', 'false'],
    // An admin's "autoremove on install" would remove base packages.
    ['APT::Get::AutomaticRemove', 'false'],
    ['Acquire::Languages', 'none'],
    ['APT::Architecture', arch],
  ];
  if (opts.retries !== undefined) settings.push(['Acquire::Retries', String(Math.max(0, Math.trunc(opts.retries)))]);
  const config = [
    '// Written by apt-ostree: apt for one tree. Try it: APT_CONFIG=<this file> apt-cache policy',
    ...includes,
    ...settings.map(([key, value]) => `${key} "${value}";`),
    '#clear APT::Architectures;',
    `APT::Architectures { ${architectures.map((a) => `"${a}";`).join(' ')} };`,
    ...CLEARED_HOOKS.map((hook) => `#clear ${hook};`),
    '',
  ].join('\n');
  await writeByRename(configFile, config);

  // The tree's apt.conf.d sets Dir::State::status to the in-image path; our file overrides it, and the command line
  // overrides everything once more, as the critical ones must never come from anywhere else.
  const commandLine = [
    '-o', `Dir::State::status=${statusFile}`,
    '-o', `Dir::State::extended_states=${extendedStatesFile}`,
    '-o', 'Dir::Bin::dpkg=/bin/false',
    '-o', 'Debug::NoLocking=1',
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, APT_CONFIG: configFile, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };
  // apt's messages are parsed: they must be the untranslated ones.
  delete env.LANGUAGE;
  const argv = (tool: 'apt-get' | 'apt-cache', args: readonly string[]): string[] => [tool, ...commandLine, ...args];
  return {
    cacheDir,
    configFile,
    etcAptDir,
    baseStatusFile,
    baseExtendedStatesFile,
    statusFile,
    extendedStatesFile,
    listsDir,
    archivesDir,
    arch,
    architectures,
    env,
    argv,
    aptGet: (args, runOpts = {}) => run(argv('apt-get', args), { ...runOpts, env }),
    aptCache: (args, runOpts = {}) => run(argv('apt-cache', args), { ...runOpts, env }),
  };
}

/** apt's configuration syntax has no escapes: a quote or a control character in a path would end the value. */
function assertConfigSafePath(p: string): void {
  if (/["\\\p{Cc}]/u.test(p)) {
    throw new AptOstreeError('invalid-argument', `unsupported characters in path ${JSON.stringify(p)}`,
      'apt can not be configured with paths containing quotes, backslashes or control characters');
  }
}

async function hostArchitecture(): Promise<string> {
  return (await run(['dpkg', '--print-architecture'])).stdout.trim();
}

/** dpkg records the architectures it was told about (`dpkg --add-architecture`) in the database's `arch` file. */
async function dpkgDatabaseArchitectures(databaseDir: string): Promise<string[]> {
  try {
    const text = await readFile(path.join(databaseDir, 'arch'), 'utf8');
    return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  } catch {
    return [];
  }
}

async function copyByRename(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${process.pid}`;
  await copyFile(from, tmp);
  await rename(tmp, to);
}

export async function writeByRename(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}
