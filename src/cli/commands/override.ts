import type { Command } from 'commander';
import type { OverrideRequest } from '../../core/ops/pkg/pkg-change.js';
import type { Cli } from '../context.js';
import { renderPkgChange } from '../render/pkg-change.js';

export function register(program: Command, cli: Cli): void {
  const override = program.command('override').description('remove or replace packages of the base image');
  const run = async (req: OverrideRequest, o: { json?: boolean }): Promise<void> => {
    const r = await cli.run({ kind: 'override', ...req, cwd: process.cwd() }, o);
    if (o.json) cli.printJson(r); else cli.print(renderPkgChange(r));
  };
  override.command('remove')
    .description('remove base packages')
    .argument('<packages...>')
    .option('-n, --dry-run', 'print the transaction and change nothing')
    .option('--json', 'output JSON')
    .action((packages: string[], o: { dryRun?: boolean; json?: boolean }) => run({ remove: packages, dryRun: o.dryRun ?? false }, o));
  override.command('replace')
    .description('replace base packages by another version (NAME=VERSION) or a local .deb')
    .argument('<packages...>')
    .option('-n, --dry-run', 'print the transaction and change nothing')
    .option('--json', 'output JSON')
    .action((packages: string[], o: { dryRun?: boolean; json?: boolean }) => run({ replace: packages, dryRun: o.dryRun ?? false }, o));
  override.command('reset')
    .description('undo overrides')
    .argument('[packages...]')
    .option('-a, --all', 'undo every override')
    .option('--json', 'output JSON')
    .action((packages: string[], o: { all?: boolean; json?: boolean }) => run({ reset: packages, resetAll: o.all ?? false }, o));
}
