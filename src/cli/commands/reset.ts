import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { renderPkgChange } from '../render/pkg-change.js';

export function register(program: Command, cli: Cli): void {
  program.command('reset')
    .description('go back to the plain base: drop layered packages, overrides and initramfs regeneration (all without flags)')
    .option('-l, --overlays', 'remove the layered packages')
    .option('-o, --overrides', 'remove the overrides')
    .option('-i, --initramfs', 'stop regenerating the initramfs')
    .option('-n, --dry-run', 'print the transaction and change nothing')
    .option('--json', 'output JSON')
    .action(async (o: { overlays?: boolean; overrides?: boolean; initramfs?: boolean; dryRun?: boolean; json?: boolean }) => {
      const r = await cli.run({
        kind: 'reset', overlays: o.overlays ?? false, overrides: o.overrides ?? false, initramfs: o.initramfs ?? false,
        dryRun: o.dryRun ?? false,
      }, o);
      if (o.json) cli.printJson(r); else cli.print(renderPkgChange(r));
    });
}
