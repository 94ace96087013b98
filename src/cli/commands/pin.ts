import type { Command } from 'commander';
import { parseIndex, type Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  for (const unpin of [false, true]) {
    program.command(unpin ? 'unpin' : 'pin')
      .description(unpin ? 'let cleanup and upgrades remove a deployment again' : 'keep a deployment through cleanup and upgrades')
      .argument('<index>', 'deployment index, as `status -v` shows it')
      .action(async (index: string) => {
        const i = parseIndex(index);
        await cli.run({ kind: 'pin', index: i, unpin });
        cli.print(`Deployment ${i} is now ${unpin ? 'unpinned' : 'pinned'}`);
      });
  }
}
