/**
 * The raw-tools way of composing a treefile's image: what a person scripts by hand to get the same packages from the
 * same repositories into an ostree commit, in TypeScript with argv arrays and the fewest process starts. The
 * yardstick `apt-ostree compose tree` is measured against (bench/compose.ts).
 *
 *   mmdebstrap with compose's own command line (src/core/compose/bootstrap.ts mmdebstrapArguments: same mode,
 *   variant, --include, aptopts, sources, eatmydata hook directory, dpkg no-documentation hook and the .deb cache
 *   hooks reading the same cache directory; same environment, INITRD=No when the treefile builds the initramfs)
 *   → rm etc/hostname, etc/resolv.conf → remove-files (rm -rf), add-files (copy, chmod)
 *   → one bwrap (compose's own bwrap arguments, the root as /) running `systemctl enable`, `systemctl set-default`
 *     and the postprocess scripts in a row
 *   → [initramfs: dracut] `dracut --quiet --force --no-hostonly ARGS --kver K /boot/initrd.img-K` in bwrap, as compose
 *     runs it
 *   → the least an ostree commit needs: kernel, initramfs, config and System.map into usr/lib/modules/K/, /boot and
 *     the /vmlinuz, /initrd.img links emptied, dev/ proc/ sys/ run/ tmp/ emptied, etc → usr/etc, and the dpkg
 *     database into usr/share/dpkg/database (renames)
 *   → ostree init (bare) beside the archive repository, ostree commit --bootable into it, ostree pull-local into the
 *     archive repository (compose does the same for archive repositories), rm -rf of the bare repository and the root.
 *
 * Left out on purpose (compose does them): the lsinitrd check of the initramfs, policy-rc.d around the sandboxed
 * runs, the image's deb822 sources and keyrings, /var turned into tmpfiles.d lines (raw commits /var as it is), the
 * toplevel symlinks (/home, /root, /opt, /srv, /mnt, /usr/local into /var), machine-id and host keys, apt's
 * extended_states and package state under /var moved into /usr, the contract's tmpfiles.d, the sysusers fragment,
 * kargs.d, the host-key unit, the package list and input hash in the commit metadata, the .deb cache refresh.
 */
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../src/lib/exec.js';
import { excludePreferences, mmdebstrapArguments, NO_DOCUMENTATION_DPKG_CFG } from '../../src/core/compose/bootstrap.js';
import { applyTreefileFiles } from '../../src/core/compose/customize.js';
import { resolveRepos, mmdebstrapSourceLines } from '../../src/core/compose/repos.js';
import { rootBwrapArguments } from '../../src/core/compose/root-sandbox.js';
import { lstatOrNull } from '../../src/core/compose/tree-fs.js';
import { loadTreefile, type LoadedTreefile } from '../../src/core/compose/treefile/index.js';
import { SANDBOX_ENV } from '../../src/core/layering/sandbox.js';

/** What compose's install phase uses when the treefile allows it (bootstrap.ts canUseEatmydata). */
const EATMYDATA_HOOKS = '/usr/share/mmdebstrap/hooks/eatmydata';
const DPKG_DATABASE = 'usr/share/dpkg/database';
const SCRIPTS_IN_SANDBOX = '/run/raw-compose';
/** Scratch roots go where compose puts its own work directory (composeTree: /var/tmp/apt-ostree-compose-*). */
const ROOT_PARENT = '/var/tmp';

/** compose tree's phases (its --json), and 'other' for the time outside them. */
export type ComposePhase = 'resolve' | 'install' | 'postprocess' | 'commit' | 'other';

/** The raw steps, in order, and the compose phase each one stands for. */
export const RAW_STEPS = {
  mmdebstrap: 'install',
  'customize (files; bwrap: units, scripts)': 'postprocess',
  'dracut (bwrap)': 'postprocess',
  'ostree transform (renames)': 'postprocess',
  'ostree init (bare)': 'commit',
  'ostree commit (bare)': 'commit',
  'ostree pull-local (archive)': 'commit',
  'rm -rf bare repository': 'commit',
  'rm -rf root': 'other',
} as const satisfies Record<string, ComposePhase>;
export type RawStep = keyof typeof RAW_STEPS;

/** Everything decided before the clock starts: a script has its command lines written already. */
export interface RawComposePlan {
  loaded: LoadedTreefile;
  architecture: string;
  /** mmdebstrap's one-line sources, as compose resolves them (`uri: default` → the host's archive). */
  sources: string[];
  eatmydata: boolean;
  /** compose's --cachedir: the .debs are read from `<cacheDir>/debs` (never written by the raw side). */
  cacheDir: string;
}

export async function planRawCompose(treefile: string, cacheDir: string): Promise<RawComposePlan> {
  const loaded = await loadTreefile(treefile);
  const tf = loaded.treefile;
  const architecture = tf.architecture ?? (await run(['dpkg', '--print-architecture'])).stdout.trim();
  const repos = await resolveRepos(tf);
  const eatmydata = tf['bootstrap-mode'] === 'root' && tf.repos.some((r) => r.uri === 'default')
    && (await lstatOrNull(EATMYDATA_HOOKS)) !== null;
  return { loaded, architecture, sources: mmdebstrapSourceLines(repos), eatmydata, cacheDir };
}

export function rawMmdebstrapArgv(plan: RawComposePlan, root: string): string[] {
  return mmdebstrapArguments(plan.loaded.treefile, { sources: plan.sources, architecture: plan.architecture, root, cache: true, eatmydata: plan.eatmydata });
}

export interface RawComposeResult {
  commit: string;
  /** Milliseconds per step, in order. */
  phases: [RawStep, number][];
}

/** Composes the plan's treefile into `repo` (an archive repository) by hand. */
export async function rawCompose(plan: RawComposePlan, repo: string): Promise<RawComposeResult> {
  const phases: [RawStep, number][] = [];
  const phase = async <T>(name: RawStep, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      phases.push([name, performance.now() - started]);
    }
  };
  const tf = plan.loaded.treefile;
  const work = await mkdtemp(join(ROOT_PARENT, 'apt-ostree-bench-raw-compose-'));
  const root = join(work, 'rootfs');
  const bare = join(dirname(repo), `raw-commit-repo-${process.pid}`);
  try {
    await phase('mmdebstrap', async () => {
      const dpkgCfg = join(work, 'dpkg-no-documentation.cfg');
      const exclude = join(work, 'exclude-preferences');
      const debsOut = join(work, 'debs-out');
      await writeFile(dpkgCfg, NO_DOCUMENTATION_DPKG_CFG);
      await writeFile(exclude, excludePreferences(tf['exclude-packages']));
      await mkdir(debsOut);
      await run(rawMmdebstrapArgv(plan, root), {
        env: {
          ...process.env, LC_ALL: 'C.UTF-8',
          APT_OSTREE_DEBS_IN: join(plan.cacheDir, 'debs'), APT_OSTREE_DEBS_OUT: debsOut, APT_OSTREE_DPKG_CFG: dpkgCfg,
          APT_OSTREE_EXCLUDE: tf['exclude-packages'].length > 0 ? exclude : '',
          ...(tf.initramfs === 'dracut' ? { INITRD: 'No' } : {}),
        },
      });
      // The cache already holds this package set (the benchmark's warm-up filled it): the copies are dropped.
      await rm(debsOut, { recursive: true, force: true });
    });
    await phase('customize (files; bwrap: units, scripts)', () => customize(plan.loaded, root, work));
    const kver = await kernelVersion(root);
    if (tf.initramfs === 'dracut') {
      await phase('dracut (bwrap)', () => run(['bwrap', ...rootBwrapArguments(root, [
        'dracut', '--quiet', '--force', '--no-hostonly', ...tf['initramfs-args'], '--kver', kver, `/boot/initrd.img-${kver}`,
      ])], { env: { ...SANDBOX_ENV } }));
    }
    await phase('ostree transform (renames)', () => ostreeTransform(root, kver));

    const version = `${tf['automatic-version-prefix'] ?? 'raw'}.0`;
    await phase('ostree init (bare)', () => run(['ostree', 'init', `--repo=${bare}`, '--mode=bare']));
    const commit = await phase('ostree commit (bare)', async () => (await run([
      'ostree', 'commit', `--repo=${bare}`, `--branch=${tf.ref}`, `--tree=dir=${root}`, '--bootable',
      `--subject=${tf.ref} ${version}`, `--add-metadata-string=version=${version}`,
    ])).stdout.trim());
    await phase('ostree pull-local (archive)', () => run(['ostree', 'pull-local', `--repo=${repo}`, bare, tf.ref]));
    await phase('rm -rf bare repository', () => rm(bare, { recursive: true, force: true }));
    await phase('rm -rf root', () => rm(work, { recursive: true, force: true }));
    return { commit, phases };
  } finally {
    await rm(bare, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

/** rm of the build host's files, add-files, remove-files, then one sandboxed shell for units and scripts. */
async function customize(loaded: LoadedTreefile, root: string, work: string): Promise<void> {
  const tf = loaded.treefile;
  await rm(join(root, 'etc/hostname'), { force: true });
  await rm(join(root, 'etc/resolv.conf'), { force: true });
  await applyTreefileFiles(root, tf);
  const lines: string[] = [];
  const binds: { src: string; dest: string; ro: boolean }[] = [];
  if (tf.units.length > 0) lines.push(`systemctl enable ${tf.units.map(shellQuote).join(' ')}`);
  if (tf['default-target'] !== undefined) lines.push(`systemctl set-default ${shellQuote(tf['default-target'])}`);
  for (const [i, script] of tf.postprocess.entries()) {
    const host = join(work, `postprocess-${i}`);
    if (script.kind === 'file') await copyFile(script.path, host);
    else await writeFile(host, script.text);
    await chmod(host, 0o755);
    const inSandbox = `${SCRIPTS_IN_SANDBOX}/postprocess-${i}`;
    binds.push({ src: host, dest: inSandbox, ro: true });
    const shebang = (await readFile(host)).subarray(0, 2).toString() === '#!';
    lines.push(shebang ? inSandbox : `/bin/sh -e ${inSandbox}`);
  }
  if (lines.length === 0) return;
  const script = join(work, 'customize.sh');
  await writeFile(script, `${lines.join('\n')}\n`);
  binds.push({ src: script, dest: `${SCRIPTS_IN_SANDBOX}/customize.sh`, ro: true });
  await run(['bwrap', ...rootBwrapArguments(root, ['/bin/sh', '-e', `${SCRIPTS_IN_SANDBOX}/customize.sh`], { binds })],
    { env: { ...SANDBOX_ENV } });
}

function shellQuote(word: string): string {
  return `'${word.replaceAll('\'', '\'\\\'\'')}'`;
}

async function kernelVersion(root: string): Promise<string> {
  const boot = (await readdir(join(root, 'boot')).catch(() => [] as string[])).filter((n) => n.startsWith('vmlinuz-'));
  if (boot[0] !== undefined) return boot[0].slice('vmlinuz-'.length);
  for (const name of await readdir(join(root, 'usr/lib/modules')).catch(() => [] as string[])) {
    if (await lstatOrNull(join(root, 'usr/lib/modules', name, 'vmlinuz'))) return name;
  }
  throw new Error(`raw compose: no kernel in ${root}`);
}

const BOOT_FILES = [['vmlinuz-', 'vmlinuz'], ['initrd.img-', 'initramfs.img'], ['config-', 'config'], ['System.map-', 'System.map']] as const;

/** The least `ostree commit --bootable` and a deployment need. */
async function ostreeTransform(root: string, kver: string): Promise<void> {
  const modules = join(root, 'usr/lib/modules', kver);
  await mkdir(modules, { recursive: true });
  for (const [prefix, target] of BOOT_FILES) {
    const source = join(root, 'boot', `${prefix}${kver}`);
    if (await lstatOrNull(source)) await rename(source, join(modules, target));
  }
  for (const link of ['vmlinuz', 'vmlinuz.old', 'initrd.img', 'initrd.img.old']) await rm(join(root, link), { force: true });
  // /boot belongs to the sysroot; ostree refuses device nodes (mmdebstrap's /dev in root mode).
  for (const dir of ['boot', 'dev', 'proc', 'sys', 'run', 'tmp']) {
    for (const name of await readdir(join(root, dir)).catch(() => [] as string[])) await rm(join(root, dir, name), { recursive: true, force: true });
  }
  await rename(join(root, 'etc'), join(root, 'usr/etc'));
  await mkdir(dirname(join(root, DPKG_DATABASE)), { recursive: true });
  await rename(join(root, 'var/lib/dpkg'), join(root, DPKG_DATABASE));
}
