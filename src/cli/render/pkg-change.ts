import type { PkgChangeResult } from '../../core/ops/pkg/deploy-layered.js';
import { formatBytes } from './units.js';

export function renderPkgChange(r: PkgChangeResult): string {
  if (!r.changed) return 'No change.\n';
  const lines: string[] = [];
  if (r.dryRun) lines.push('Transaction (dry run, nothing was changed):');
  const added = r.install.filter((p) => !r.remove.some((x) => x.name === p.name));
  if (added.length > 0) {
    lines.push('Installing:');
    for (const p of added) lines.push(`  ${p.name} ${p.version} ${p.arch}${p.requested ? '' : ' (dependency)'}`);
  }
  if (r.remove.length > 0) {
    lines.push('Removing:');
    for (const p of r.remove) lines.push(`  ${p.name} ${p.version}`);
  }
  if (r.inactive.length > 0) lines.push(`Inactive requests (already in the base): ${r.inactive.join(' ')}`);
  if (r.downloadBytes > 0) lines.push(`Download size: ${formatBytes(r.downloadBytes)}`);
  if (!r.dryRun) lines.push('Run "systemctl reboot" to start a reboot');
  return `${lines.join('\n')}\n`;
}
