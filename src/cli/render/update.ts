import type { UpdateSummary } from '../../core/ops/upgrade.js';
import { formatPackageDiff } from '../../core/packages.js';

export function renderUpdate(s: UpdateSummary, mode: 'check' | 'preview' | 'done' | 'staged'): string {
  if (!s.changed || s.to === null) return 'No updates available.\n';
  const lines: string[] = [];
  const verb = mode === 'done' ? 'Deployed' : mode === 'staged' ? 'Staged' : 'Available update';
  lines.push(`${verb}: ${s.refspec}`);
  lines.push(`  Version: ${s.to.version ?? '(none)'}`, `   Commit: ${s.to.checksum}`);
  if (s.diff !== null) lines.push(...formatPackageDiff(s.diff));
  if (mode === 'done') lines.push('Run "systemctl reboot" to start a reboot');
  if (mode === 'staged') lines.push('It becomes the default deployment when the system shuts down or reboots.');
  return `${lines.join('\n')}\n`;
}
