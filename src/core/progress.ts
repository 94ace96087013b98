/**
 * What long operations report while they run. The CLI renders it (bars on a TTY, plain lines otherwise); the
 * daemon turns it into the Transaction's D-Bus signals.
 */
export interface ProgressSink {
  message(text: string): void;
  taskBegin(title: string): void;
  taskEnd(title: string): void;
  percent(title: string, percent: number): void;
  download(state: DownloadState): void;
}

export interface DownloadState {
  title: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last interval. */
  rate: number;
}

export const silentProgress: ProgressSink = {
  message: () => undefined,
  taskBegin: () => undefined,
  taskEnd: () => undefined,
  percent: () => undefined,
  download: () => undefined,
};

/** Runs fn as a named task so every step shows up as TaskBegin/TaskEnd. */
export async function task<T>(progress: ProgressSink, title: string, fn: () => Promise<T>): Promise<T> {
  progress.taskBegin(title);
  try {
    return await fn();
  } finally {
    progress.taskEnd(title);
  }
}
