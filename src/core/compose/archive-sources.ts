/**
 * The Debian archive addresses the real-Debian suite builds from, read at run time from the host's apt sources
 * (deb822 `/etc/apt/sources.list.d/*.sources` and one-line `sources.list` / `*.list`): no host name is written in
 * the repository. The host's own suites (`bookworm`, `bookworm-security`) tell which entry is the main archive and
 * which is the security archive; the image is then built from the same addresses with its own suite.
 *
 * compose uses it for a treefile's `uri: default`.
 * Overrides: APT_OSTREE_DEBIAN_MIRROR and APT_OSTREE_DEBIAN_SECURITY_MIRROR (`none` leaves security out).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDeb822 } from '../../lib/deb822.js';
import { AptOstreeError } from '../../lib/errors.js';

export interface AptSourceEntry {
  uri: string;
  suites: string[];
  /** Signed-By when it names a keyring file (inline keys are ignored). */
  signedBy?: string;
  /** The file the entry comes from, for error messages. */
  file: string;
}

export interface DebianArchive {
  /** Main archive, e.g. the mirror's `…/debian` address. */
  mirror: string;
  /** Security archive, when the host has one. */
  securityMirror?: string;
  /** Keyring file that verifies the archive (the host entry's Signed-By, else debian-archive-keyring's). */
  keyring: string;
  /** Where the addresses were found. */
  origin: string;
}

export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Every enabled `deb` entry of the host's apt configuration. */
export async function readHostAptSources(etcApt = '/etc/apt'): Promise<AptSourceEntry[]> {
  const entries: AptSourceEntry[] = [];
  const listFiles = [join(etcApt, 'sources.list')];
  const dir = join(etcApt, 'sources.list.d');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const name of names) {
    if (name.endsWith('.list')) listFiles.push(join(dir, name));
    if (!name.endsWith('.sources')) continue;
    const file = join(dir, name);
    for (const p of parseDeb822(await readFile(file, 'utf8'), { source: file })) {
      if (p.get('Enabled')?.toLowerCase() === 'no') continue;
      if (!(p.get('Types') ?? '').split(/\s+/).includes('deb')) continue;
      const suites = (p.get('Suites') ?? '').split(/\s+/).filter(Boolean);
      const signedBy = p.get('Signed-By');
      for (const uri of (p.get('URIs') ?? '').split(/\s+/).filter(Boolean)) {
        entries.push({ uri, suites, file, ...(signedBy?.startsWith('/') ? { signedBy: signedBy.trim() } : {}) });
      }
    }
  }
  for (const file of listFiles) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const raw of text.split('\n')) {
      const entry = parseOneLineSource(raw, file);
      if (entry) entries.push(entry);
    }
  }
  return entries;
}

/** `deb [opt=val ...] URI SUITE [COMPONENT...]`; other lines (deb-src, comments) give undefined. */
export function parseOneLineSource(line: string, file: string): AptSourceEntry | undefined {
  const text = line.replace(/#.*$/, '').trim();
  const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(text);
  const [, options, uri, suite] = m ?? [];
  if (uri === undefined || suite === undefined) return undefined;
  const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(options ?? '')?.[1];
  return { uri, suites: [suite], file, ...(signedBy?.startsWith('/') ? { signedBy } : {}) };
}

/** The host's codename from /etc/os-release (VERSION_CODENAME). */
export async function hostCodename(osRelease = '/etc/os-release'): Promise<string | undefined> {
  const text = await readFile(osRelease, 'utf8').catch(() => '');
  return /^VERSION_CODENAME="?([^"\n]*)"?$/m.exec(text)?.[1] || undefined;
}

/**
 * Picks the main and security archives among the host's entries: the entry that serves the host's own codename is
 * the main archive, the one that serves `<codename>-security` the security archive.
 */
export function pickDebianArchive(entries: readonly AptSourceEntry[], codename: string | undefined,
  env: NodeJS.ProcessEnv = process.env): DebianArchive {
  const isSecurity = (e: AptSourceEntry): boolean => e.suites.some((s) => s.endsWith('-security'));
  const main = entries.find((e) => !isSecurity(e) && (codename === undefined || e.suites.includes(codename)))
    ?? entries.find((e) => !isSecurity(e) && /\/debian\/?$/.test(e.uri));
  const security = entries.find((e) => isSecurity(e) && (codename === undefined || e.suites.includes(`${codename}-security`)))
    ?? entries.find(isSecurity);
  const mirror = env.APT_OSTREE_DEBIAN_MIRROR ?? main?.uri;
  if (mirror === undefined) {
    throw new AptOstreeError('repository-unreachable', 'no Debian archive in the host\'s apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d)',
      'add one, or set APT_OSTREE_DEBIAN_MIRROR to the archive address');
  }
  const securityEnv = env.APT_OSTREE_DEBIAN_SECURITY_MIRROR;
  const securityMirror = securityEnv === 'none' ? undefined : securityEnv ?? security?.uri;
  return {
    mirror: mirror.replace(/\/+$/, ''),
    ...(securityMirror !== undefined ? { securityMirror: securityMirror.replace(/\/+$/, '') } : {}),
    keyring: main?.signedBy ?? DEBIAN_ARCHIVE_KEYRING,
    origin: env.APT_OSTREE_DEBIAN_MIRROR !== undefined ? 'APT_OSTREE_DEBIAN_MIRROR' : main?.file ?? '?',
  };
}

export async function hostDebianArchive(): Promise<DebianArchive> {
  return pickDebianArchive(await readHostAptSources(), await hostCodename());
}
