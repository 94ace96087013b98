import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { renderUpdate } from '../render/update.js';

export function register(program: Command, cli: Cli): void {
  program.command('deploy')
    .description('deploy a given revision (checksum or version) of the followed ref')
    .argument('<revision>', 'commit checksum, or version (also as version=V)')
    .option('--json', 'output JSON')
    .action(async (revision: string, o: { json?: boolean }) => {
      const s = await cli.run({ kind: 'deploy', revision }, o);
      if (o.json) cli.printJson(s); else cli.print(renderUpdate(s, 'done'));
    });
}
