/**
 * Reading and writing systemd tmpfiles.d lines (tmpfiles.d(5)), only as far as the contract needs: paths are
 * unquoted and C-unescaped by systemd-tmpfiles and then specifier-expanded, so a path we write must escape
 * whitespace and backslashes as \xHH and `%` as `%%`.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, lstatOrNull } from './tree-fs.js';

/** Escapes a path (or a symlink target) for one tmpfiles.d field. */
export function escapeTmpfilesField(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '%') out += '%%';
    else if (ch === '\\' || ch === '"' || ch === "'" || code <= 0x20 || code === 0x7f) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else out += ch;
  }
  return out;
}

export interface TmpfilesEntry {
  type: string;
  path: string;
  mode?: string;
  user?: string;
  group?: string;
  age?: string;
  argument?: string;
}

export function formatTmpfilesLine(entry: TmpfilesEntry): string {
  const fields = [
    entry.type,
    escapeTmpfilesField(entry.path),
    entry.mode ?? '-',
    entry.user ?? '-',
    entry.group ?? '-',
    entry.age ?? '-',
  ];
  if (entry.argument !== undefined) fields.push(escapeTmpfilesField(entry.argument));
  return fields.join(' ');
}

/** Splits a tmpfiles.d line into words like systemd does for its first six fields (quotes, C escapes). */
export function splitTmpfilesWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line.charAt(i);
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && i + 1 < line.length) {
        const [text, used] = unescapeAt(line, i);
        current += text;
        i += used - 1;
      } else current += ch;
      continue;
    }
    if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '\\' && i + 1 < line.length) {
      const [text, used] = unescapeAt(line, i);
      current += text;
      i += used - 1;
    } else current += ch;
  }
  if (inWord) words.push(current);
  return words;
}

function unescapeAt(line: string, i: number): [string, number] {
  const next = line.charAt(i + 1);
  if (next === 'x') {
    const hex = line.slice(i + 2, i + 4);
    if (/^[0-9a-fA-F]{2}$/.test(hex)) return [String.fromCharCode(parseInt(hex, 16)), 4];
  }
  const simple: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'", ' ': ' ' };
  return [simple[next] ?? next, 2];
}

/** A path declared by some tmpfiles.d line, and the line's type letter (d, L, C, ...). */
export interface DeclaredPath {
  path: string;
  type: string;
  file: string;
  /** The argument field (symlink target, copy source, ...), when the line has one other than `-`. */
  argument?: string;
}

/** Parses the path declarations of one tmpfiles.d file's text. Paths with other specifiers than %% are skipped. */
export function parseTmpfilesDeclarations(text: string, file: string): DeclaredPath[] {
  const out: DeclaredPath[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = splitTmpfilesWords(line);
    const [type, path] = words;
    if (type === undefined || path === undefined || !path.startsWith('/')) continue;
    if (/%[^%]/.test(path.replaceAll('%%', ''))) continue;
    const declared: DeclaredPath = { path: normalizeDeclaredPath(path.replaceAll('%%', '%')), type: type.charAt(0), file };
    const argument = words.slice(6).join(' ');
    if (argument !== '' && argument !== '-') declared.argument = argument.replaceAll('%%', '%');
    out.push(declared);
  }
  return out;
}

function normalizeDeclaredPath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed.replace(/\/{2,}/g, '/');
}

/** tmpfiles.d directories of a tree, in the /etc-over-/usr order systemd reads them. */
export const TMPFILES_DIRS: readonly string[] = ['etc/tmpfiles.d', 'usr/etc/tmpfiles.d', 'usr/lib/tmpfiles.d'];

/** Every path the tree's tmpfiles.d files declare, except those in files named in `excludeFiles` (basenames). */
export async function readDeclaredTmpfilesPaths(
  root: string,
  excludeFiles: readonly string[] = [],
): Promise<DeclaredPath[]> {
  const out: DeclaredPath[] = [];
  for (const dir of TMPFILES_DIRS) {
    let names: string[];
    try {
      names = await readdir(join(root, dir));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
    for (const name of names.sort()) {
      if (!name.endsWith('.conf') || excludeFiles.includes(name)) continue;
      const text = await readTreeText(root, `${dir}/${name}`);
      if (text !== null) out.push(...parseTmpfilesDeclarations(text, `${dir}/${name}`));
    }
  }
  return out;
}

/**
 * Reads a file of the tree, resolving a symlink inside the tree rather than on the host. A link to /dev/null (how
 * a tmpfiles.d file is masked) or a missing target reads as null.
 */
async function readTreeText(root: string, relative: string): Promise<string | null> {
  let path = join(root, relative);
  for (let hops = 0; hops < 8; hops++) {
    const st = await lstatOrNull(path);
    if (!st) return null;
    if (st.isFile()) return readFile(path, 'utf8');
    if (!st.isSymbolicLink()) return null;
    const target = await readlink(path);
    if (target === '/dev/null') return null;
    path = target.startsWith('/') ? join(root, target) : join(path, '..', target);
  }
  return null;
}
