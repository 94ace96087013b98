import type { DownloadState, ProgressSink } from '../../core/progress.js';
import { formatBytes, formatDuration } from './units.js';

/**
 * Progress goes to stderr so stdout stays the command's answer (and valid JSON with --json). A terminal gets one
 * live line with bytes, total, rate and ETA; anything else gets plain lines, one per event.
 */
export function progressRenderer(stream: NodeJS.WriteStream, quiet: boolean): ProgressSink & { done(): void } {
  if (quiet) return { message: () => undefined, taskBegin: () => undefined, taskEnd: () => undefined, percent: () => undefined, download: () => undefined, done: () => undefined };
  const tty = stream.isTTY;
  let live = false;
  const clear = (): void => {
    if (live) stream.write('\r\x1b[2K');
    live = false;
  };
  const line = (text: string): void => { clear(); stream.write(`${text}\n`); };
  const status = (text: string): void => {
    if (!tty) return;
    clear();
    stream.write(text.slice(0, (stream.columns || 80) - 1));
    live = true;
  };
  return {
    message: (text) => { line(text); },
    taskBegin: (title) => { if (tty) status(`${title}…`); else line(`${title}...`); },
    taskEnd: (title) => { if (tty) line(`${title}... done`); },
    percent: (title, pct) => { if (tty) status(`${title}: ${Math.round(pct)}%`); else line(`${title}: ${Math.round(pct)}%`); },
    download: (s: DownloadState) => {
      const text = downloadLine(s);
      if (tty) status(text); else line(text);
    },
    done: clear,
  };
}

function downloadLine(s: DownloadState): string {
  const eta = s.rate > 0 && s.bytesTotal > s.bytesDone ? ` ETA ${formatDuration((s.bytesTotal - s.bytesDone) / s.rate)}` : '';
  return `${s.title}: ${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)} (${formatBytes(s.rate)}/s)${eta}`;
}
