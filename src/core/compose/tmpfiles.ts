/**
 * Reading and writing systemd tmpfiles.d lines (tmpfiles.d(5)), only as far as the contract needs. systemd 252
 * (Debian 12) splits the path field with quotes and backslash-escapes-next-character, but no C escapes (`\x20`
 * reads as `x20`), then expands specifiers; the argument field is the raw rest of the line, specifiers expanded.
 * So a path with whitespace, quotes or backslashes is written in double quotes with `\` and `"` escaped, and `%`
 * is doubled everywhere.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, lstatOrNull } from './tree-fs.js';

/** Control characters can not be written in a tmpfiles.d line at all. */
export function isTmpfilesRepresentable(value: string): boolean {
  for (const ch of value) {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

/** Escapes a path for the path field. */
export function escapeTmpfilesPath(path: string): string {
  const escaped = path.replaceAll('%', '%%');
  if (!/[\s"'\\]/.test(escaped)) return escaped;
  return `"${escaped.replace(/["\\]/g, (ch) => `\\${ch}`)}"`;
}

/** Escapes the argument field (symlink target, ...): it is taken verbatim up to the end of the line. */
export function escapeTmpfilesArgument(argument: string): string {
  return argument.replaceAll('%', '%%');
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
    escapeTmpfilesPath(entry.path),
    entry.mode ?? '-',
    entry.user ?? '-',
    entry.group ?? '-',
    entry.age ?? '-',
  ];
  if (entry.argument !== undefined) fields.push(escapeTmpfilesArgument(entry.argument));
  return fields.join(' ');
}

/**
 * Splits a tmpfiles.d line into words like systemd 252 does for its first six fields: single or double quotes
 * group, a backslash takes the next character literally. `rest` is what follows the sixth field (the argument).
 */
export function splitTmpfilesWords(line: string): { words: string[]; rest: string } {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | null = null;
  let i = 0;
  for (; i < line.length && words.length < 6; i++) {
    const ch = line.charAt(i);
    if (ch === '\\' && i + 1 < line.length) {
      current += line.charAt(++i);
      inWord = true;
    } else if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      inWord = true;
      if (ch === '"' || ch === "'") quote = ch;
      else current += ch;
    }
  }
  if (inWord && words.length < 6) words.push(current);
  return { words, rest: line.slice(i).trim() };
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
    const { words, rest } = splitTmpfilesWords(line);
    const [type, path] = words;
    if (type === undefined || path === undefined || !path.startsWith('/')) continue;
    if (/%[^%]/.test(path.replaceAll('%%', ''))) continue;
    const declared: DeclaredPath = { path: normalizeDeclaredPath(path.replaceAll('%%', '%')), type: type.charAt(0), file };
    if (rest !== '' && rest !== '-') declared.argument = rest.replaceAll('%%', '%');
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
