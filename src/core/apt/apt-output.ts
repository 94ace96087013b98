/**
 * Parsers for what apt-get prints. apt has no machine-readable plan output (apt 2.6), but its simulation lines,
 * --print-uris lines and status-fd lines are stable interfaces other tools have parsed for decades. apt runs with
 * LC_ALL=C.UTF-8 (apt-env.ts), so the messages matched here are the untranslated ones.
 */

export type SimulatedAction =
  /** `Inst name [old] (new origins [arch])`: unpack (an upgrade or downgrade when `old` is there). */
  | { kind: 'inst'; name: string; arch: string; version: string; oldVersion?: string; origins: string[] }
  /** `Conf name (version origins [arch])`. */
  | { kind: 'conf'; name: string; arch: string; version: string }
  /** `Remv name [version]` or `Purg name [version]`; the arch only when apt shows a foreign one (`name:i386`). */
  | { kind: 'remv'; name: string; arch?: string; version: string; purge: boolean };

const INST = /^Inst (\S+)(?: \[([^\]]+)\])? \((\S+) (.*) \[([^\]\s]+)\]\)/;
const CONF = /^Conf (\S+) \((\S+) (.*) \[([^\]\s]+)\]\)/;
const REMV = /^(Remv|Purg) (\S+)(?: \[([^\]]*)\])?/;

/** The package name without an `:arch` suffix, which apt prints for foreign architectures. */
function splitName(text: string): { name: string; arch?: string } {
  const colon = text.indexOf(':');
  return colon < 0 ? { name: text } : { name: text.slice(0, colon), arch: text.slice(colon + 1) };
}

/** apt-get -s lines in apt's order; other lines (summaries, notes) are ignored. */
export function parseSimulation(stdout: string): SimulatedAction[] {
  const actions: SimulatedAction[] = [];
  for (const line of stdout.split('\n')) {
    let m = INST.exec(line);
    if (m) {
      const [, nameText = '', oldVersion, version = '', origins = '', arch = ''] = m;
      const action: SimulatedAction = {
        kind: 'inst', name: splitName(nameText).name, arch, version,
        origins: origins.split(',').map((o) => o.trim()).filter((o) => o !== ''),
      };
      if (oldVersion !== undefined) action.oldVersion = oldVersion;
      actions.push(action);
      continue;
    }
    m = CONF.exec(line);
    if (m) {
      const [, nameText = '', version = '', , arch = ''] = m;
      actions.push({ kind: 'conf', name: splitName(nameText).name, arch, version });
      continue;
    }
    m = REMV.exec(line);
    if (m) {
      const [, verb, nameText = '', version = ''] = m;
      const { name, arch } = splitName(nameText);
      const action: SimulatedAction = { kind: 'remv', name, version, purge: verb === 'Purg' };
      if (arch !== undefined) action.arch = arch;
      actions.push(action);
    }
  }
  return actions;
}

/**
 * apt's explanation of a failed resolution, one line per unmet relation:
 * `kit-skew: Depends: kit-libfoo1 (>= 1.1-1) but 1.0-1 is to be installed`.
 */
export function parseUnmetDependencies(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith('The following packages have unmet dependencies'));
  if (start < 0) return [];
  const out: string[] = [];
  let current = '';
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith(' ')) break;
    const m = /^ (\S+) : (.*)$/.exec(line);
    if (m) {
      current = m[1] ?? '';
      out.push(`${current}: ${(m[2] ?? '').trim()}`);
    } else if (current !== '' && line.trim() !== '') {
      out.push(`${current}: ${line.trim()}`);
    }
  }
  return out;
}

/** The `E:` messages of apt's stderr. */
export function aptErrors(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('E: ')).map((l) => l.slice(3).trim());
}

export interface UnknownPackage {
  name: string;
  version?: string;
  reason: string;
}

/** Requests apt could not map to a package or version. */
export function parseUnknownPackages(stdout: string, stderr: string): UnknownPackage[] {
  const found: UnknownPackage[] = [];
  for (const error of aptErrors(stderr)) {
    let m = /^Unable to locate package (\S+)$/.exec(error);
    if (m) { found.push({ name: m[1] ?? '', reason: 'no such package in the configured repositories' }); continue; }
    m = /^Package '([^']+)' has no installation candidate$/.exec(error);
    if (m) {
      const name = m[1] ?? '';
      found.push({ name, reason: virtualProviders(stdout, name) ?? 'it has no installation candidate' });
      continue;
    }
    m = /^Version '([^']+)' for '([^']+)' was not found$/.exec(error);
    if (m) found.push({ name: m[2] ?? '', version: m[1] ?? '', reason: `version ${m[1] ?? ''} is not available` });
  }
  return found;
}

/** "Package X is a virtual package provided by:\n  a 1.0\n  b 2.0\nYou should explicitly select one to install." */
function virtualProviders(stdout: string, name: string): string | undefined {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l === `Package ${name} is a virtual package provided by:`);
  if (start < 0) return undefined;
  const providers: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith(' ')) break;
    const provider = line.trim().split(/\s+/)[0];
    if (provider) providers.push(provider);
  }
  return `it is a virtual package provided by ${providers.join(', ')}: name one of them`;
}

export interface PrintedUri {
  uri: string;
  /** The name apt gives the file in its archives directory. */
  fileName: string;
  size: number;
  /** `SHA256:…`, `MD5Sum:…` or '' (local files). */
  hash: string;
}

/** `'URI' FILENAME SIZE HASH` lines of `apt-get --print-uris install`. */
export function parsePrintUris(stdout: string): PrintedUri[] {
  const uris: PrintedUri[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^'([^']+)' (\S+) (\d+)(?: (\S*))?/.exec(line);
    if (!m) continue;
    uris.push({ uri: m[1] ?? '', fileName: m[2] ?? '', size: Number(m[3]), hash: m[4] ?? '' });
  }
  return uris;
}

/** The file name apt's archives directory uses: NAME_VERSION_ARCH.deb with an epoch's colon as %3a. */
export function archiveFileName(pkg: { name: string; version: string; arch: string }): string {
  return `${pkg.name}_${pkg.version.replaceAll(':', '%3a')}_${pkg.arch}.deb`;
}

export interface FetchFailure {
  uri: string;
  reason: string;
}

/**
 * Downloads apt could not make, from `W:`/`E: Failed to fetch URI  REASON` (apt-get update reports an unreachable
 * repository with a warning and exit status 0) and `Err:N URI … ` followed by an indented reason.
 */
export function parseFetchFailures(stdout: string, stderr: string): FetchFailure[] {
  const failures = new Map<string, string>();
  for (const line of stderr.split('\n')) {
    const m = /^[WE]: Failed to fetch (\S+)\s+(.*)$/.exec(line);
    if (m) failures.set(m[1] ?? '', cleanReason(m[2] ?? ''));
  }
  if (failures.size === 0) {
    const lines = stdout.split('\n');
    lines.forEach((line, i) => {
      const m = /^Err:\d+ (\S+)(.*)$/.exec(line);
      if (!m) return;
      const next = lines[i + 1] ?? '';
      const uri = `${m[1] ?? ''}${(m[2] ?? '').replace(/\s+/g, ' ')}`.trim();
      failures.set(uri, next.startsWith(' ') ? cleanReason(next) : 'download failed');
    });
  }
  return [...failures].map(([uri, reason]) => ({ uri, reason }));
}

/** apt appends the address it talked to (`[IP: 1.2.3.4 80]`), which is noise for a user. */
function cleanReason(reason: string): string {
  return reason.replace(/\s*\[IP: [^\]]*\]\s*$/, '').trim();
}

export interface DownloadStatus {
  /** Items done so far. */
  items: number;
  /** apt's overall percentage (of bytes, roughly). */
  percent: number;
  message: string;
}

/** A `dlstatus:ITEMS:PERCENT:MESSAGE` line of APT::Status-Fd. */
export function parseDownloadStatus(line: string): DownloadStatus | null {
  const m = /^dlstatus:(\d+):([\d.]+):(.*)$/.exec(line);
  if (!m) return null;
  const percent = Number(m[2]);
  if (!Number.isFinite(percent)) return null;
  return { items: Number(m[1]), percent: Math.min(100, Math.max(0, percent)), message: m[3] ?? '' };
}
