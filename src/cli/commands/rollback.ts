import type { Command } from 'commander';
import type { Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  program.command('rollback')
    .description('make the previous deployment the default again')
    .option('--json', 'output JSON')
    .action(async (o: { json?: boolean }) => {
      const r = await cli.run({ kind: 'rollback' }, o);
      if (o.json) cli.printJson(r);
      else cli.print(`Moving '${r.checksum}' to be first deployment\nRun "systemctl reboot" to start a reboot`);
    });
}
