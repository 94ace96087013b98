import type { CachedUpdate } from '../../core/cached-update.js';
import type { DeploymentStatus, StatusReport } from '../../core/ops/status.js';
import { formatTimestamp } from './units.js';

/** rpm-ostree's look: ● marks the booted deployment, labels right-aligned before the values. */
export function renderStatus(report: StatusReport, verbose: boolean): string {
  const lines = ['State: idle', 'Deployments:'];
  report.deployments.forEach((d, i) => {
    if (i > 0) lines.push('');
    lines.push(...renderDeployment(d, verbose));
  });
  if (report.deployments.length === 0) lines.push('  (none)');
  const cached = report['cached-update'];
  if (cached) lines.push(...renderCachedUpdate(cached));
  return `${lines.join('\n')}\n`;
}

/** rpm-ostree's AvailableUpdate block. */
function renderCachedUpdate(u: CachedUpdate): string[] {
  const rows: [string, string][] = [
    ['Version', `${u.version ?? '(none)'} (${formatTimestamp(u.timestamp)})`],
    ['Commit', u.checksum],
  ];
  if (u.diff !== null) {
    const counts = [[u.diff.upgraded.length, 'upgraded'], [u.diff.downgraded.length, 'downgraded'], [u.diff.removed.length, 'removed'],
      [u.diff.added.length, 'added']] as const;
    rows.push(['Diff', counts.filter(([n]) => n > 0).map(([n, w]) => `${n} ${w}`).join(', ') || 'no package changes']);
  }
  rows.push(['Checked', formatTimestamp(u['checked-at'])]);
  return ['AvailableUpdate:', ...rows.map(([k, v]) => `${`${k}:`.padStart(20)} ${v}`)];
}

function renderDeployment(d: DeploymentStatus, verbose: boolean): string[] {
  const marker = d.booted ? '●' : ' ';
  const flags = [d.staged ? 'staged' : '', !d.booted && d.index === 0 && !d.staged ? 'default' : '', d.rollback ? 'rollback' : '']
    .filter((f) => f !== '');
  const head = `${marker} ${d.osname}:${d.origin ?? '(no origin)'}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`;
  const rows: [string, string][] = [];
  rows.push(['Version', `${d.version ?? '(none)'} (${formatTimestamp(d.timestamp)})`]);
  if (d['base-checksum'] !== null) {
    rows.push(['BaseCommit', d['base-checksum']], ['Commit', d.checksum]);
  } else {
    rows.push(['Commit', d.checksum]);
  }
  if (verbose) rows.push(['StateRoot', d.osname], ['Serial', String(d.serial)], ['Index', String(d.index)]);
  if (d['base-removals'].length > 0) rows.push(['RemovedBasePackages', d['base-removals'].join(' ')]);
  if (d['base-replacements'].length > 0) rows.push(['ReplacedBasePackages', d['base-replacements'].join(' ')]);
  if (d.packages.length > 0) rows.push(['LayeredPackages', d.packages.join(' ')]);
  if (d['inactive-requests'].length > 0) rows.push(['InactiveRequests', d['inactive-requests'].join(' ')]);
  if (d['regenerate-initramfs']) rows.push(['Initramfs', ['regenerate', ...d['initramfs-args']].join(' ')]);
  if (d.unlocked !== 'none') rows.push(['Unlocked', d.unlocked]);
  if (d['live-replaced'] !== null) rows.push(['LiveCommit', d['live-replaced']]);
  if (d['live-inprogress'] !== null) rows.push(['LiveInProgress', d['live-inprogress']]);
  if (verbose) rows.push(['KernelArgs', d.kargs.join(' ')]);
  if (d.staged) rows.push(['Staged', 'yes']);
  if (d.pinned) rows.push(['Pinned', 'yes']);
  const width = Math.max(20, ...rows.map(([k]) => k.length + 2));
  return [head, ...rows.map(([k, v]) => `${`${k}:`.padStart(width)} ${v}`)];
}
