import type { Command } from 'commander';
import type { AutomaticUpdateResult } from '../../core/ops/automatic-update.js';
import { AptOstreeError } from '../../lib/errors.js';
import type { Cli } from '../context.js';
import { renderUpdate } from '../render/update.js';

interface UpgradeOptions {
  check?: boolean; preview?: boolean; allowDowngrade?: boolean; triggerAutomaticUpdatePolicy?: boolean; json?: boolean;
}

function renderAutomatic(r: AutomaticUpdateResult): string {
  if (r.policy === 'none') return 'Automatic updates are disabled (AutomaticUpdatePolicy=none in /etc/apt-ostreed.conf); nothing to do.\n';
  if (r.update === null) return 'No updates available.\n';
  if (r.policy === 'check') return renderUpdate(r.update, 'preview');
  if (r.alreadyPending) return `The update ${r.update.to?.version ?? r.update.to?.checksum ?? ''} is already pending; nothing to do.\n`;
  if (!r.staged) return 'No updates available.\n';
  return renderUpdate(r.update, 'staged');
}

export function register(program: Command, cli: Cli): void {
  program.command('upgrade')
    .alias('update')
    .description('pull the newest commit of the followed ref and deploy it')
    .option('--check', 'only say whether an update is available')
    .option('--preview', 'show the package changes of the available update, change nothing')
    .option('--allow-downgrade', 'accept a commit older than the current one')
    .option('--trigger-automatic-update-policy', 'do what AutomaticUpdatePolicy (/etc/apt-ostreed.conf) says: nothing, check, or stage')
    .option('--json', 'output JSON')
    .action(async (o: UpgradeOptions) => {
      if (o.triggerAutomaticUpdatePolicy) {
        if (o.check || o.preview || o.allowDowngrade) {
          throw new AptOstreeError('usage', '--trigger-automatic-update-policy takes no other upgrade option',
            'the policy in /etc/apt-ostreed.conf decides what it does');
        }
        const r = await cli.run({ kind: 'automatic-update' }, o);
        if (o.json) cli.printJson(r); else cli.print(renderAutomatic(r));
        return;
      }
      const s = await cli.run({ kind: 'upgrade', check: o.check ?? false, preview: o.preview ?? false, allowDowngrade: o.allowDowngrade ?? false }, o);
      if (o.json) cli.printJson(s);
      else cli.print(renderUpdate(s, o.preview ? 'preview' : o.check ? 'check' : 'done'));
      if ((o.check ?? o.preview) && !s.changed) process.exitCode = 77;
    });
}
