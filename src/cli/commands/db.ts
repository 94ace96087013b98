import type { Command } from 'commander';
import { formatPackageDiff } from '../../core/packages.js';
import type { Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const db = program.command('db').description('query the package databases of commits');
  db.command('list')
    .description('list the packages of a commit (default: the current deployment)')
    .argument('[revision]', 'checksum, ref or version')
    .argument('[pattern]', 'package name pattern (* and ?)')
    .option('--json', 'output JSON')
    .action(async (revision: string | undefined, pattern: string | undefined, o: { json?: boolean }) => {
      const r = await cli.run({ kind: 'db-list', revision, pattern }, o);
      if (o.json) { cli.printJson(r); return; }
      cli.print(`ostree commit: ${r.checksum}${r.version ? ` (${r.version})` : ''}`);
      cli.print(r.packages.map((p) => ` ${p.name} ${p.version} ${p.architecture}`).join('\n'));
    });
  db.command('diff')
    .description('show package changes between two commits (default: what the next boot changes)')
    .argument('[from]', 'checksum, ref or version')
    .argument('[to]', 'checksum, ref or version')
    .option('--json', 'output JSON')
    .action(async (from: string | undefined, to: string | undefined, o: { json?: boolean }) => {
      const r = await cli.run({ kind: 'db-diff', from, to }, o);
      if (o.json) { cli.printJson(r); return; }
      cli.print(`ostree diff commit from: ${r.from}\nostree diff commit to:   ${r.to}`);
      const lines = formatPackageDiff(r.diff);
      cli.print(lines.length > 0 ? lines.join('\n') : 'No package changes.');
    });
  db.command('version')
    .description('show the dpkg database of a commit')
    .argument('[revision]', 'checksum, ref or version')
    .option('--json', 'output JSON')
    .action(async (revision: string | undefined, o: { json?: boolean }) => {
      const r = await cli.run({ kind: 'db-version', revision }, o);
      if (o.json) { cli.printJson(r); return; }
      cli.print(`${r.checksum}\n  dpkg database: ${r.packages} packages${r.dpkgVersion ? `, dpkg ${r.dpkgVersion}` : ''}`);
    });
}
