import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { composeCommit, composeInstall, composePostprocess, composeTree, type ComposeOptions } from '../../core/compose/compose.js';
import type { ImageCommitResult } from '../../core/compose/image-commit.js';
import { loadTreefile } from '../../core/compose/treefile/index.js';
import type { Cli } from '../context.js';
import { registerPublish } from './compose-publish.js';

interface TreeCliOptions { repo: string; cachedir?: string; workdir?: string; forceNocache?: boolean; dryRun?: boolean; printOnly?: boolean; json?: boolean }

/** Plain progress lines on stderr: compose runs for minutes, in terminals and in CI logs alike. */
function composeProgress(cli: Cli, json: boolean): Pick<ComposeOptions, 'onStep' | 'onLine'> {
  const quiet = (cli.globals().quiet ?? false) || json;
  const started = Date.now();
  const stamp = (): string => `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`;
  return quiet ? {} : {
    onStep: (line) => { process.stderr.write(`${stamp()} ${line}\n`); },
    onLine: (line) => { process.stderr.write(`${stamp()}   ${line}\n`); },
  };
}

function reportCommit(cli: Cli, r: ImageCommitResult, dryRun: boolean): void {
  const short = (c: string | undefined): string => (c ?? '').slice(0, 12);
  if (!r.changed) cli.print(`No change: ${r.ref} stays at ${short(r.commit)} (${r.version}); the inputs and the ${r.packages.length} packages are the same`);
  else if (dryRun) cli.print(`Would commit ${r.ref} ${r.version} with ${r.packages.length} packages (dry run: nothing written)`);
  else cli.print(`Committed ${r.ref} ${r.version}: ${r.commit ?? ''} (${r.packages.length} packages${r.previous ? `, parent ${short(r.previous)}` : ''})`);
}

export function register(program: Command, cli: Cli): void {
  const compose = program.command('compose')
    .description('build Debian base images from a treefile and publish them (root; runs in this process)');

  compose.command('tree')
    .description('build the image a treefile describes and commit it to a repository: install, postprocess and commit in one go')
    .argument('<treefile>', 'YAML or JSON treefile (see docs/treefile.md)')
    .requiredOption('--repo <repo>', 'OSTree repository to commit into (archive or bare)')
    .option('--cachedir <dir>', 'keep downloaded .debs here between runs')
    .option('--workdir <dir>', 'scratch directory, kept afterwards (default: a temporary one under /var/tmp)')
    .option('--force-nocache', 'commit even when nothing changed')
    .option('--dry-run', 'build the tree and report what would be committed; write nothing to the repository')
    .option('--print-only', 'print the treefile with includes merged and defaults applied, and exit')
    .option('--json', 'output JSON')
    .action(async (treefile: string, o: TreeCliOptions) => {
      const loaded = await loadTreefile(resolve(treefile));
      if (o.printOnly === true) { cli.printJson(loaded.treefile); return; }
      const result = await cli.interruptible((signal) => composeTree(loaded, {
        repo: resolve(o.repo), cacheDir: o.cachedir === undefined ? undefined : resolve(o.cachedir),
        workDir: o.workdir === undefined ? undefined : resolve(o.workdir), force: o.forceNocache ?? false,
        dryRun: o.dryRun ?? false, signal, ...composeProgress(cli, o.json ?? false),
      }));
      if (o.json === true) { cli.printJson(result); return; }
      reportCommit(cli, result, o.dryRun ?? false);
    });

  compose.command('install')
    .description('first phase: build the plain Debian root of a treefile into DESTDIR/rootfs with mmdebstrap')
    .argument('<treefile>', 'YAML or JSON treefile')
    .argument('<destdir>', 'directory to create the root in (DESTDIR/rootfs must not exist)')
    .option('--cachedir <dir>', 'keep downloaded .debs here between runs')
    .option('--json', 'output JSON')
    .action(async (treefile: string, destdir: string, o: { cachedir?: string; json?: boolean }) => {
      const loaded = await loadTreefile(resolve(treefile));
      await mkdir(resolve(destdir), { recursive: true });
      const root = join(resolve(destdir), 'rootfs');
      const r = await cli.interruptible((signal) => composeInstall(loaded, root, {
        cacheDir: o.cachedir === undefined ? undefined : resolve(o.cachedir), workDir: join(resolve(destdir), 'install-work'),
        signal, ...composeProgress(cli, o.json ?? false),
      }));
      if (o.json === true) cli.printJson({ root, ...r });
      else cli.print(`Installed ${root} in ${r.seconds.toFixed(1)}s`);
    });

  compose.command('postprocess')
    .description('second phase: apply the treefile\'s files, units, scripts, initramfs and the base image contract to a root')
    .argument('<rootfs>', 'the root `compose install` made')
    .argument('<treefile>', 'YAML or JSON treefile')
    .option('--json', 'output JSON')
    .action(async (rootfs: string, treefile: string, o: { json?: boolean }) => {
      const loaded = await loadTreefile(resolve(treefile));
      const r = await cli.interruptible((signal) => composePostprocess(loaded, resolve(rootfs), { signal, ...composeProgress(cli, o.json ?? false) }));
      if (o.json === true) { cli.printJson(r); return; }
      for (const w of r.contract.warnings) process.stderr.write(`warning: ${w}\n`);
      cli.print(`Postprocessed ${resolve(rootfs)}: kernel ${r.contract.kernelVersion}, ${r.customize.scripts} scripts, ${r.sysusers} accounts in sysusers.d`);
    });

  compose.command('commit')
    .description('last phase: commit a postprocessed root to the treefile\'s ref (skipped when nothing changed)')
    .argument('<treefile>', 'YAML or JSON treefile')
    .argument('<rootfs>', 'the postprocessed root')
    .requiredOption('--repo <repo>', 'OSTree repository to commit into')
    .option('--force-nocache', 'commit even when nothing changed')
    .option('--dry-run', 'report what would be committed; write nothing')
    .option('--json', 'output JSON')
    .action(async (treefile: string, rootfs: string, o: { repo: string; forceNocache?: boolean; dryRun?: boolean; json?: boolean }) => {
      const loaded = await loadTreefile(resolve(treefile));
      const r = await cli.interruptible((signal) => composeCommit(loaded, resolve(rootfs), {
        repo: resolve(o.repo), force: o.forceNocache ?? false, dryRun: o.dryRun ?? false, signal, ...composeProgress(cli, o.json ?? false),
      }));
      if (o.json === true) { cli.printJson(r); return; }
      reportCommit(cli, r, o.dryRun ?? false);
    });

  registerPublish(compose, cli);
}
