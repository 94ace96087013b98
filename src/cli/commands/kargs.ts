import type { Command } from 'commander';
import type { KargsRequest } from '../../core/ops/kargs.js';
import { parseIndex, type Cli } from '../context.js';
import { editText, splitKargs } from '../editor.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface KargsOptions {
  append: string[];
  appendIfMissing: string[];
  delete: string[];
  deleteIfPresent: string[];
  replace: string[];
  editor?: boolean;
  deployIndex?: string;
  json?: boolean;
}

export function register(program: Command, cli: Cli): void {
  program.command('kargs')
    .description('show or change the kernel arguments (a change makes a new deployment)')
    .option('--append <KEY=VALUE>', 'add an argument', collect, [])
    .option('--append-if-missing <KEY=VALUE>', 'add an argument unless it is there', collect, [])
    .option('--delete <KEY[=VALUE]>', 'remove an argument (it must be there)', collect, [])
    .option('--delete-if-present <KEY[=VALUE]>', 'remove an argument if it is there', collect, [])
    .option('--replace <KEY=VALUE|KEY=OLD=NEW>', 'replace the value of an argument', collect, [])
    .option('--editor', 'edit the arguments in $EDITOR')
    .option('--deploy-index <INDEX>', 'work on the deployment with this index')
    .option('--json', 'output JSON')
    .action(async (o: KargsOptions) => {
      const deployIndex = o.deployIndex === undefined ? undefined : parseIndex(o.deployIndex, '--deploy-index');
      const edits = o.append.length + o.appendIfMissing.length + o.delete.length + o.deleteIfPresent.length + o.replace.length;
      if (edits === 0 && !o.editor) {
        const kargs = await cli.run({ kind: 'kargs-show', deployIndex }, o);
        if (o.json) cli.printJson({ kargs }); else cli.print(kargs.join(' '));
        return;
      }
      const req: KargsRequest = {
        append: o.append, appendIfMissing: o.appendIfMissing, delete: o.delete,
        deleteIfPresent: o.deleteIfPresent, replace: o.replace, deployIndex,
      };
      if (o.editor) {
        const current = await cli.run({ kind: 'kargs-show', deployIndex }, { json: true });
        req.set = splitKargs(await editText(current.join(' '), '# Kernel arguments of the new deployment; lines starting with # are ignored.'));
      }
      const r = await cli.run({ kind: 'kargs', ...req }, o);
      if (o.json) cli.printJson(r);
      else cli.print(r.changed ? 'Kernel arguments updated.\nRun "systemctl reboot" to start a reboot' : 'No change.');
    });
}
