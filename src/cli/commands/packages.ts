import type { Command } from 'commander';
import { parseIndex, type Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  program.command('search')
    .description('search the configured repositories (every term must match)')
    .argument('<terms...>')
    .option('--json', 'output JSON')
    .action(async (terms: string[], o: { json?: boolean }) => {
      const r = await cli.run({ kind: 'search', terms }, o);
      if (o.json) { cli.printJson(r); return; }
      cli.print(r.length === 0 ? 'No matches.' : r.map((p) => `${p.name} ${p.version} - ${p.summary}`).join('\n'));
    });
  program.command('list')
    .description('installed packages of a deployment, marked base / layered / override')
    .argument('[pattern]', 'package name pattern (* and ?)')
    .option('--deploy-index <INDEX>', 'the deployment with this index (default: the current one)')
    .option('--json', 'output JSON')
    .action(async (pattern: string | undefined, o: { deployIndex?: string; json?: boolean }) => {
      const deployIndex = o.deployIndex === undefined ? undefined : parseIndex(o.deployIndex, '--deploy-index');
      const r = await cli.run({ kind: 'list', pattern, deployIndex }, o);
      if (o.json) { cli.printJson(r); return; }
      const width = Math.max(4, ...r.packages.map((p) => p.name.length));
      cli.print(r.packages.map((p) => `${p.name.padEnd(width)}  ${p.version}  ${p.architecture}  ${p.origin}`).join('\n'));
      if (r.removed.length > 0) cli.print(`Removed from the base: ${r.removed.join(' ')}`);
    });
  program.command('refresh-md')
    .description('update the package metadata cache')
    .option('-f, --force', 'even when it is fresh')
    .option('--json', 'output JSON')
    .action(async (o: { force?: boolean; json?: boolean }) => {
      const r = await cli.run({ kind: 'refresh-md', force: o.force ?? false }, o);
      if (o.json) cli.printJson(r);
      else cli.print(r.updated ? 'Package metadata updated.' : `Package metadata is fresh (${Math.round(r.ageSeconds)} s old).`);
    });
}
