import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { renderUpdate } from '../render/update.js';

export function register(program: Command, cli: Cli): void {
  program.command('upgrade')
    .alias('update')
    .description('pull the newest commit of the followed ref and deploy it')
    .option('--check', 'only say whether an update is available')
    .option('--preview', 'show the package changes of the available update, change nothing')
    .option('--allow-downgrade', 'accept a commit older than the current one')
    .option('--json', 'output JSON')
    .action(async (o: { check?: boolean; preview?: boolean; allowDowngrade?: boolean; json?: boolean }) => {
      const s = await cli.run({ kind: 'upgrade', check: o.check ?? false, preview: o.preview ?? false, allowDowngrade: o.allowDowngrade ?? false }, o);
      if (o.json) cli.printJson(s);
      else cli.print(renderUpdate(s, o.preview ? 'preview' : o.check ? 'check' : 'done'));
      if ((o.check ?? o.preview) && !s.changed) process.exitCode = 77;
    });
}
