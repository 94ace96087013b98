import type { Command } from 'commander';
import type { CleanupResult } from '../../core/ops/cleanup.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { Cli } from '../context.js';

interface CleanupOptions { pending?: boolean; rollback?: boolean; base?: boolean; repomd?: boolean; json?: boolean }

function report(cli: Cli, r: CleanupResult, json: boolean): void {
  if (json) { cli.printJson(r); return; }
  for (const d of r.removedDeployments) cli.print(`Deleted deployment ${d}`);
  for (const d of r.keptPinned) cli.print(`Kept pinned deployment ${d}`);
  if (r.prunedObjects) cli.print('Pruned the repository.');
  if (r.removedDeployments.length === 0 && !r.prunedObjects) cli.print('Nothing to clean up.');
}

export function register(program: Command, cli: Cli): void {
  program.command('cleanup')
    .description('remove pending or rollback deployments, temporary files and cached metadata')
    .option('-p, --pending', 'remove the pending deployment')
    .option('-r, --rollback', 'remove the rollback deployment')
    .option('-b, --base', 'remove temporary files and prune unused repository objects')
    .option('-m, --repomd', 'remove cached package metadata')
    .option('--json', 'output JSON')
    .action(async (o: CleanupOptions) => {
      if (!o.pending && !o.rollback && !o.base && !o.repomd) {
        throw new AptOstreeError('usage', 'cleanup needs at least one of -p, -r, -b, -m', 'see `apt-ostree cleanup --help`');
      }
      report(cli, await cli.run({ kind: 'cleanup', pending: o.pending ?? false, rollback: o.rollback ?? false, base: o.base ?? false, repomd: o.repomd ?? false }, o), o.json ?? false);
    });
  program.command('prune')
    .description('cleanup -b, and drop commit history that no ref tip or deployment needs')
    .option('--json', 'output JSON')
    .action(async (o: { json?: boolean }) => {
      report(cli, await cli.run({ kind: 'cleanup', base: true, prune: true }, o), o.json ?? false);
    });
}
