import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { renderUpdate } from '../render/update.js';

export function register(program: Command, cli: Cli): void {
  program.command('rebase')
    .alias('checkout')
    .description('switch to another ref (REMOTE:REF, or REF on the current remote)')
    .argument('<refspec>', 'REMOTE:REF or REF')
    .argument('[revision]', 'a checksum or version of that ref')
    .option('--json', 'output JSON')
    .action(async (refspec: string, revision: string | undefined, o: { json?: boolean }) => {
      const s = await cli.run({ kind: 'rebase', refspec, revision }, o);
      if (o.json) cli.printJson(s); else cli.print(renderUpdate(s, 'done'));
    });
}
