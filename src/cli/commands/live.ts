import type { Command } from 'commander';
import type { ApplyLiveResult } from '../../core/ops/apply-live.js';
import type { UsrOverlayResult } from '../../core/ops/usroverlay.js';
import { formatPackageDiff } from '../../core/packages.js';
import type { Cli } from '../context.js';

function renderUsrOverlay(r: UsrOverlayResult): string {
  return r.unlocked === 'hotfix'
    ? 'Hotfix mode enabled. A writable overlayfs is now mounted on /usr for this booted deployment.\n'
      + 'The changes stay across reboots; a non-hotfixed clone of the deployment is the rollback target.\n'
    : 'Development mode enabled. A writable overlayfs is now mounted on /usr.\nAll changes there will be discarded on reboot.\n';
}

function renderApplyLive(r: ApplyLiveResult): string {
  if (!r.changed) return `No changes: the running system already has ${r.to}.\n`;
  const lines = [`Computed /usr diff: ${r.files.added} added, ${r.files.replaced} replaced, ${r.files.removed} removed`];
  lines.push(...formatPackageDiff(r.packages));
  if (r.etcAdded.length > 0) lines.push(`New in /etc: ${r.etcAdded.join(' ')}`);
  for (const p of r.notApplied) lines.push(`Not applied: ${p}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  lines.push('Successfully updated the running system (services are not restarted; the changes to /usr go away at the next boot,'
    + ' which boots the pending deployment).');
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, cli: Cli): void {
  program.command('usroverlay')
    .alias('unlock')
    .description('make /usr of the booted deployment writable through an overlay, until the next boot')
    .option('--hotfix', 'keep the changes across reboots (ostree admin unlock --hotfix)')
    .option('--json', 'output JSON')
    .action(async (o: { hotfix?: boolean; json?: boolean }) => {
      const r = await cli.run({ kind: 'usroverlay', hotfix: o.hotfix ?? false }, o);
      if (o.json) cli.printJson(r); else cli.print(renderUsrOverlay(r));
    });

  program.command('apply-live')
    .description('apply the packages the pending deployment adds to the running system, without a reboot')
    .option('--allow-replacement', 'also apply package upgrades and removals, and files that replace running ones')
    .option('--json', 'output JSON')
    .action(async (o: { allowReplacement?: boolean; json?: boolean }) => {
      const r = await cli.run({ kind: 'apply-live', allowReplacement: o.allowReplacement ?? false }, o);
      if (o.json) cli.printJson(r); else cli.print(renderApplyLive(r));
    });
}
