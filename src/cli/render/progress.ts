import type { DownloadState, ProgressSink } from '../../core/progress.js';
import { formatBytes, formatDuration } from './units.js';

/**
 * Progress goes to stderr so stdout stays the command's answer (and valid JSON with --json). A terminal gets one
 * live line: a bar with bytes, total, rate and ETA for downloads, a bar with the percentage for other steps; anything
 * else gets plain lines, one per event.
 */
export function progressRenderer(stream: NodeJS.WriteStream, quiet: boolean): ProgressSink & { done(): void } {
  if (quiet) return { message: () => undefined, taskBegin: () => undefined, taskEnd: () => undefined, percent: () => undefined, download: () => undefined, done: () => undefined };
  const tty = stream.isTTY;
  let live = false;
  const width = (): number => Math.max(20, (stream.columns || 80) - 1);
  const clear = (): void => {
    if (live) stream.write('\r\x1b[2K');
    live = false;
  };
  const line = (text: string): void => { clear(); stream.write(`${text}\n`); };
  const status = (text: string): void => {
    if (!tty) return;
    clear();
    stream.write(text.slice(0, width()));
    live = true;
  };
  return {
    message: (text) => { line(text); },
    taskBegin: (title) => { if (tty) status(`${title}…`); else line(`${title}...`); },
    taskEnd: (title) => { if (tty) line(`${title}... done`); },
    percent: (title, pct) => {
      if (tty) status(barLine(title, pct / 100, `${Math.round(pct)}%`, width()));
      else line(`${title}: ${Math.round(pct)}%`);
    },
    download: (s: DownloadState) => {
      if (tty) status(downloadBar(s, width())); else line(downloadLine(s));
    },
    done: clear,
  };
}

function eta(s: DownloadState): string {
  return s.rate > 0 && s.bytesTotal > s.bytesDone ? `ETA ${formatDuration((s.bytesTotal - s.bytesDone) / s.rate)}` : '';
}

export function downloadLine(s: DownloadState): string {
  const e = eta(s);
  return `${s.title}: ${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)} (${formatBytes(s.rate)}/s)${e ? ` ${e}` : ''}`;
}

/** `title [#####·····] 1.2 MB / 4.1 MB  300.0 kB/s  ETA 9s`, fitted to the terminal's width. */
export function downloadBar(s: DownloadState, columns: number): string {
  const total = s.bytesTotal > 0 ? ` / ${formatBytes(s.bytesTotal)}` : '';
  const tail = [`${formatBytes(s.bytesDone)}${total}`, `${formatBytes(s.rate)}/s`, eta(s)].filter((x) => x !== '').join('  ');
  if (s.bytesTotal <= 0) return `${s.title}: ${tail}`;
  return barLine(s.title, s.bytesDone / s.bytesTotal, tail, columns);
}

/** `title [####······] tail`: the bar takes what the title and tail leave of the line (at most 30 cells). */
export function barLine(title: string, fraction: number, tail: string, columns: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const room = columns - title.length - tail.length - 4;
  if (room < 5) return `${title}: ${tail}`;
  const cells = Math.min(30, room);
  const full = Math.round(f * cells);
  return `${title} [${'#'.repeat(full)}${'-'.repeat(cells - full)}] ${tail}`;
}
