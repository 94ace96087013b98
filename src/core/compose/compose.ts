/**
 * apt-ostree compose: a treefile → a plain Debian root (install) → a tree that follows the base image contract
 * (postprocess) → a commit on the treefile's ref (commit). `composeTree` runs the three in a scratch directory;
 * the split phases let an image builder look at or change the tree in between, as with rpm-ostree.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { lstatOrNull } from './tree-fs.js';
import { bootstrapRoot, type BootstrapReport } from './bootstrap.js';
import { applyBaseImageContract, type ContractReport } from './contract.js';
import { customizeRoot, type CustomizeReport } from './customize.js';
import { writeImageKargs, writeImageSysusers } from './image-policy.js';
import { commitImage, computeInputHash, unchangedTip, type ImageCommitOptions, type ImageCommitResult } from './image-commit.js';
import { resolvePackageSet } from './resolve-packages.js';
import { buildInitramfs } from './initramfs.js';
import { generateHostKeysOnAnyBoot } from '../layering/finalize.js';
import { resolveRepos, type ResolvedRepo } from './repos.js';
import type { LoadedTreefile } from './treefile/index.js';

export type ComposePhase = 'resolve' | 'install' | 'postprocess' | 'commit';

export interface ComposeOptions {
  /** One plain line per step (progress for people and logs). */
  onStep?: ((line: string) => void) | undefined;
  /** Output of the tools (mmdebstrap's I:/W:/E: lines, scripts, dracut). */
  onLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface ResolvedCompose {
  repos: ResolvedRepo[];
  architecture: string;
}

export async function resolveCompose(loaded: LoadedTreefile): Promise<ResolvedCompose> {
  const architecture = loaded.treefile.architecture ?? (await run(['dpkg', '--print-architecture'])).stdout.trim();
  return { repos: await resolveRepos(loaded.treefile), architecture };
}

export interface InstallOptions extends ComposeOptions {
  cacheDir?: string | undefined;
  /** Where mmdebstrap's log and hook inputs go; default: beside the root. */
  workDir?: string | undefined;
}

export async function composeInstall(loaded: LoadedTreefile, root: string, opts: InstallOptions = {}): Promise<BootstrapReport> {
  requireRoot();
  const resolved = await resolveCompose(loaded);
  const tf = loaded.treefile;
  opts.onStep?.(`install: mmdebstrap ${tf.release} (${tf.variant}, ${resolved.architecture}) with ${tf.packages.length} packages from `
    + resolved.repos.map((r) => r.uri).join(', '));
  return bootstrapRoot({
    loaded, repos: resolved.repos, architecture: resolved.architecture, root,
    workDir: opts.workDir ?? `${root}.work`, cacheDir: opts.cacheDir, onLine: opts.onLine, signal: opts.signal,
  });
}

export interface PostprocessReport {
  customize: CustomizeReport;
  contract: ContractReport;
  sysusers: number;
  initramfsSeconds: number;
}

export async function composePostprocess(loaded: LoadedTreefile, root: string, opts: ComposeOptions = {}): Promise<PostprocessReport> {
  requireRoot();
  const tf = loaded.treefile;
  if (!(await lstatOrNull(join(root, 'etc')))?.isDirectory()) {
    throw new AptOstreeError('invalid-rootfs', `${root} has no /etc: postprocess runs once, on the root \`compose install\` made`,
      'run `compose install` again into a new directory');
  }
  const step = opts.onStep ?? (() => undefined);
  step('postprocess: remove-files, add-files, units, postprocess scripts');
  const customize = await customizeRoot(root, loaded, { onLine: opts.onLine, signal: opts.signal });
  let initramfsSeconds = 0;
  if (tf.initramfs === 'dracut') {
    step(`postprocess: initramfs (dracut --no-hostonly ${tf['initramfs-args'].join(' ')})`.trimEnd());
    initramfsSeconds = (await buildInitramfs(root, { args: tf['initramfs-args'], signal: opts.signal })).seconds;
  }
  const contract = await applyBaseImageContract(root, {
    machineId: tf['machineid-compat'] ? 'empty' : 'absent',
    onStep: (s) => { step(`postprocess: contract: ${s}`); },
  });
  if (contract.initramfs !== 'present') {
    throw new AptOstreeError('compose-failed', `the image has no initramfs for kernel ${contract.kernelVersion}`,
      'use `initramfs: dracut` (with dracut and ostree-boot in the packages), or a kernel package that ships one');
  }
  // An image version that brings openssh-server to machines that booted before: keys on any boot that lacks them.
  await generateHostKeysOnAnyBoot(root);
  const sysusers = tf.users === 'sysusers' ? await writeImageSysusers(root) : 0;
  await writeImageKargs(root, tf['kernel-args']);
  return { customize, contract, sysusers, initramfsSeconds };
}

export interface CommitOptions extends ComposeOptions {
  repo: string;
  force?: boolean;
  dryRun?: boolean;
  workDir?: string | undefined;
}

export interface ResolvedInputs extends ResolvedCompose {
  /** The package set apt resolves the treefile to now (name=version). */
  packages: string[];
  inputHash: string;
}

/** Repositories, architecture, the package set and the input hash: what decides whether a compose has work to do. */
export async function resolveInputs(loaded: LoadedTreefile, aptDir: string, opts: ComposeOptions = {}): Promise<ResolvedInputs> {
  const resolved = await resolveCompose(loaded);
  opts.onStep?.(`resolve: ${loaded.treefile.packages.length + loaded.treefile['local-debs'].length} packages (${loaded.treefile.variant}) `
    + `against ${resolved.repos.length} repositories`);
  const packages = await resolvePackageSet({
    loaded, repos: resolved.repos, architecture: resolved.architecture, aptDir, signal: opts.signal,
    onWait: () => opts.onStep?.(`resolve: waiting for another compose that uses ${aptDir}`),
  });
  const inputHash = await computeInputHash(loaded, resolved.repos, resolved.architecture, packages);
  return { ...resolved, packages, inputHash };
}

export async function composeCommit(loaded: LoadedTreefile, tree: string,
  opts: CommitOptions & { inputs?: ResolvedInputs; checkedTip?: ImageCommitOptions['checkedTip'] }): Promise<ImageCommitResult> {
  requireRoot();
  await requireRepo(opts.repo);
  const workDir = opts.workDir ?? await mkdtemp(join(opts.repo, '..', '.apt-ostree-compose-'));
  try {
    const inputs = opts.inputs ?? await resolveInputs(loaded, join(workDir, 'resolve'), opts);
    opts.onStep?.(`commit: ${loaded.treefile.ref} into ${opts.repo}`);
    return await commitImage({
      loaded, inputHash: inputs.inputHash, architecture: inputs.architecture, tree, repo: opts.repo, workDir,
      force: opts.force ?? false, checkedTip: opts.checkedTip, dryRun: opts.dryRun ?? false, onLine: opts.onLine, signal: opts.signal,
    });
  } finally {
    if (opts.workDir === undefined) await rm(workDir, { recursive: true, force: true });
  }
}

export interface TreeOptions extends ComposeOptions {
  repo: string;
  cacheDir?: string | undefined;
  /** Keep the scratch directory here instead of a temporary one (it is not removed). */
  workDir?: string | undefined;
  force?: boolean;
  dryRun?: boolean;
}

export interface ComposeTreeResult extends ImageCommitResult {
  phases: { name: ComposePhase; seconds: number }[];
  warnings: string[];
}

export async function composeTree(loaded: LoadedTreefile, opts: TreeOptions): Promise<ComposeTreeResult> {
  requireRoot();
  await requireRepo(opts.repo);
  const keep = opts.workDir !== undefined;
  const workDir = opts.workDir ?? await mkdtemp(join('/var/tmp', 'apt-ostree-compose-'));
  await mkdir(workDir, { recursive: true });
  const phases: ComposeTreeResult['phases'] = [];
  const timed = async <T>(name: ComposePhase, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await fn();
    phases.push({ name, seconds: (Date.now() - t0) / 1000 });
    return r;
  };
  try {
    // apt's lists stay in the cache directory between runs, so that an unchanged compose only revalidates them.
    const aptDir = opts.cacheDir !== undefined ? join(opts.cacheDir, 'resolve') : join(workDir, 'resolve');
    const root = join(workDir, 'rootfs');
    await rm(root, { recursive: true, force: true });
    const install = (): Promise<unknown> => timed('install', () => composeInstall(loaded, root, { ...opts, workDir: join(workDir, 'install') }));
    let inputs: ResolvedInputs;
    let checkedTip: ImageCommitOptions['checkedTip'];
    if (opts.force === true) {
      // Forced: the answer can not stop the build, so resolution runs beside mmdebstrap instead of before it.
      // Both are waited for, so that a failure of one never leaves the other writing into a removed directory.
      const [resolved, installed] = await Promise.allSettled([timed('resolve', () => resolveInputs(loaded, aptDir, opts)), install()]);
      if (resolved.status === 'rejected') throw resolved.reason;
      if (installed.status === 'rejected') throw installed.reason;
      inputs = resolved.value;
    } else {
      inputs = await timed('resolve', () => resolveInputs(loaded, aptDir, opts));
      const same = await unchangedTip(opts.repo, loaded.treefile.ref, inputs.inputHash);
      if (same !== undefined) {
        return {
          ref: loaded.treefile.ref, commit: same.commit, previous: same.commit, changed: false, version: same.version,
          inputHash: inputs.inputHash, packages: inputs.packages, phases, warnings: [],
        };
      }
      checkedTip = { unchanged: same }; // asked once: the commit phase does not ask again
      await install();
    }
    const post = await timed('postprocess', () => composePostprocess(loaded, root, opts));
    const result = await timed('commit', () => composeCommit(loaded, root, { ...opts, inputs, checkedTip, workDir: join(workDir, 'commit') }));
    return { ...result, phases, warnings: post.contract.warnings };
  } finally {
    if (!keep) await rm(workDir, { recursive: true, force: true });
  }
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new AptOstreeError('not-root', 'compose needs root (mmdebstrap --mode=root, dpkg and bubblewrap on the image)', 'run it with sudo');
  }
}

async function requireRepo(repo: string): Promise<void> {
  if (!(await lstatOrNull(join(repo, 'config')))?.isFile()) {
    throw new AptOstreeError('invalid-argument', `${repo} is not an OSTree repository`,
      `create one with \`ostree init --repo=${repo} --mode=archive\``);
  }
}
