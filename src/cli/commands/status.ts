import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { renderStatus } from '../render/status.js';

export function register(program: Command, cli: Cli): void {
  program.command('status')
    .description('show the deployments')
    .option('-v, --verbose', 'more details (stateroot, serial, kernel arguments)')
    .option('-b, --booted', 'only the booted deployment')
    .option('--json', 'output JSON')
    .action(async (o: { verbose?: boolean; booted?: boolean; json?: boolean }) => {
      const report = await cli.run({ kind: 'status', booted: o.booted ?? false }, { json: true });
      if (o.json) cli.printJson(report);
      else cli.print(renderStatus(report, o.verbose ?? false));
    });
}
