import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { renderPkgChange } from '../render/pkg-change.js';

interface InstallOptions { dryRun?: boolean; assumeyes?: boolean; idempotent?: boolean; allowInactive?: boolean; json?: boolean }

export function register(program: Command, cli: Cli): void {
  program.command('install')
    .description('layer packages (names, name=version, or local .deb files) on the base image')
    .argument('<packages...>', 'package names, name=version, or ./file.deb')
    .option('-n, --dry-run', 'print the transaction (packages, versions, download size) and change nothing')
    .option('-y, --assumeyes', 'do not ask (apt-ostree never asks; accepted for apt habits)')
    .option('--idempotent', 'do nothing for a package already requested')
    .option('--allow-inactive', 'record a request the base already satisfies')
    .option('--json', 'output JSON')
    .action(async (packages: string[], o: InstallOptions) => {
      const r = await cli.run({
        kind: 'pkg-change', install: packages, dryRun: o.dryRun ?? false, idempotent: o.idempotent ?? false,
        allowInactive: o.allowInactive ?? false, cwd: process.cwd(),
      }, o);
      if (o.json) cli.printJson(r); else cli.print(renderPkgChange(r));
    });

  program.command('uninstall')
    .alias('remove')
    .description('remove layered packages')
    .argument('[packages...]', 'names of layered packages')
    .option('-a, --all', 'remove every layered package')
    .option('-n, --dry-run', 'print the transaction and change nothing')
    .option('--idempotent', 'do nothing for a package that is not layered')
    .option('--json', 'output JSON')
    .action(async (packages: string[], o: InstallOptions & { all?: boolean }) => {
      const r = await cli.run({
        kind: 'pkg-change', uninstall: packages, uninstallAll: o.all ?? false, dryRun: o.dryRun ?? false,
        idempotent: o.idempotent ?? false,
      }, o);
      if (o.json) cli.printJson(r); else cli.print(renderPkgChange(r));
    });
}
