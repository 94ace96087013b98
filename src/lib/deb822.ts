import { AptOstreeError } from './errors.js';

/**
 * deb822 control data: dpkg status files, Packages indices, .dsc and debian/control files, sources.list.d/*.sources.
 *
 * A field value is stored decoded: continuation lines lose the one leading space (or tab) that marks them, keep their
 * newline, and a ` .` line becomes an empty line. A value whose first line is empty (`Conffiles:`) starts with `\n`.
 * Serializing encodes the same way back, so files dpkg and apt write round-trip byte for byte.
 */

export interface Deb822Field {
  /** As written in the file; lookups ignore case. */
  readonly name: string;
  readonly value: string;
}

export class Deb822Paragraph implements Iterable<Deb822Field> {
  readonly #fields: Deb822Field[] = [];
  readonly #byName = new Map<string, Deb822Field>();

  constructor(fields?: Iterable<readonly [string, string]> | Readonly<Record<string, string>>) {
    if (fields === undefined) return;
    const entries = Symbol.iterator in fields ? fields : Object.entries(fields);
    for (const [name, value] of entries) this.set(name, value);
  }

  get(name: string): string | undefined {
    return this.#byName.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.#byName.has(name.toLowerCase());
  }

  /** Replaces the value in place (keeping position and the original spelling of the name) or appends the field. */
  set(name: string, value: string): this {
    assertFieldName(name);
    const key = name.toLowerCase();
    const existing = this.#byName.get(key);
    const field: Deb822Field = { name: existing?.name ?? name, value };
    if (existing) this.#fields[this.#fields.indexOf(existing)] = field;
    else this.#fields.push(field);
    this.#byName.set(key, field);
    return this;
  }

  delete(name: string): boolean {
    const key = name.toLowerCase();
    const existing = this.#byName.get(key);
    if (!existing) return false;
    this.#fields.splice(this.#fields.indexOf(existing), 1);
    this.#byName.delete(key);
    return true;
  }

  /** The value split into lines with empty lines dropped: for list fields such as Conffiles or Checksums-Sha256. */
  getLines(name: string): string[] {
    const value = this.get(name);
    if (value === undefined) return [];
    return value.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  }

  get fields(): readonly Deb822Field[] {
    return this.#fields;
  }

  get size(): number {
    return this.#fields.length;
  }

  [Symbol.iterator](): Iterator<Deb822Field> {
    return this.#fields[Symbol.iterator]();
  }

  /** Field names keep their original spelling; handy for JSON output and deepEqual in tests. */
  toRecord(): Record<string, string> {
    return Object.fromEntries(this.#fields.map((f) => [f.name, f.value]));
  }
}

export interface ParseDeb822Options {
  /** Names the input in error messages, e.g. a file path. */
  source?: string;
}

/** Parses every paragraph of a deb822 text. Throws AptOstreeError('parse-error') with the line number on bad input. */
export function parseDeb822(text: string, options: ParseDeb822Options = {}): Deb822Paragraph[] {
  const lines = text.split(/\r?\n/);
  const paragraphs: Deb822Paragraph[] = [];
  let paragraph: Deb822Paragraph | undefined;
  let fieldName: string | undefined;
  let fieldLines: string[] = [];
  let fieldLine = 0;

  const fail = (lineNumber: number, message: string, hint?: string): never => {
    const where = options.source ? `${options.source} line ${lineNumber}` : `line ${lineNumber}`;
    throw new AptOstreeError('parse-error', `${where}: ${message}`, hint ?? 'the file is not valid deb822 control data');
  };

  const finishField = (): void => {
    if (fieldName === undefined || paragraph === undefined) return;
    if (paragraph.has(fieldName)) fail(fieldLine, `duplicate field ${fieldName}`);
    paragraph.set(fieldName, decodeValue(fieldLines));
    fieldName = undefined;
    fieldLines = [];
  };

  const finishParagraph = (): void => {
    finishField();
    if (paragraph) paragraphs.push(paragraph);
    paragraph = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const lineNumber = i + 1;
    if (line.startsWith('#')) continue;
    // Policy lets parsers take whitespace-only lines as separators; editors leave them behind in hand-written files.
    if (line === '' || isBlank(line)) {
      finishParagraph();
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (fieldName === undefined) fail(lineNumber, 'continuation line before any field');
      fieldLines.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) {
      const hint = line.startsWith('-----BEGIN PGP')
        ? 'the text is PGP-signed: pass it through stripClearsign() first'
        : undefined;
      fail(lineNumber, `expected "Field: value", got "${line.slice(0, 60)}"`, hint);
    }
    const name = line.slice(0, colon);
    if (!isValidFieldName(name)) fail(lineNumber, `invalid field name "${name.slice(0, 60)}"`);
    finishField();
    paragraph ??= new Deb822Paragraph();
    fieldName = name;
    fieldLine = lineNumber;
    fieldLines = [line.slice(colon + 1).replace(/^[ \t]+/, '')];
  }
  finishParagraph();
  return paragraphs;
}

function isBlank(line: string): boolean {
  for (let k = 0; k < line.length; k++) {
    const code = line.charCodeAt(k);
    if (code !== 0x20 && code !== 0x09) return false;
  }
  return true;
}

/** `lines[0]` is the text after the colon; the rest are raw continuation lines, leading whitespace included. */
function decodeValue(lines: string[]): string {
  // Like dpkg, trailing whitespace is dropped from the end of the value only: interior lines stay as written.
  const last = lines.length - 1;
  return lines
    .map((line, index) => {
      const text = index === last ? line.trimEnd() : line;
      if (index === 0) return text;
      const body = text.slice(1);
      return body === '.' ? '' : body;
    })
    .join('\n');
}

export function serializeParagraph(paragraph: Deb822Paragraph): string {
  let out = '';
  for (const { name, value } of paragraph) {
    assertFieldName(name);
    const [first = '', ...rest] = value.split('\n');
    out += first === '' ? `${name}:` : `${name}: ${first}`;
    // An empty line inside a value can only be written as " ." (a value line consisting of "." reads back empty).
    for (const line of rest) out += line === '' ? '\n .' : `\n ${line}`;
    out += '\n';
  }
  return out;
}

/** Paragraphs separated by one empty line, each ending with a newline, as dpkg and apt write them. */
export function serializeDeb822(paragraphs: readonly Deb822Paragraph[]): string {
  return paragraphs.map((p) => `${serializeParagraph(p)}\n`).join('');
}

/** US-ASCII without controls, space and colon, not starting with `#` or `-` (Debian Policy 5.1). */
export function isValidFieldName(name: string): boolean {
  return /^[!-9;-~]+$/.test(name) && !name.startsWith('#') && !name.startsWith('-');
}

function assertFieldName(name: string): void {
  if (!isValidFieldName(name)) {
    throw new AptOstreeError('invalid-argument', `invalid deb822 field name "${name}"`,
      'field names are ASCII without spaces or colons and do not start with # or -');
  }
}

/**
 * Returns the signed text of an OpenPGP clearsigned document (InRelease, .dsc), or the text unchanged when it is not
 * signed. It does not verify the signature: that is gpgv's job, done by apt or the caller before trusting the content.
 */
export function stripClearsign(text: string): string {
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && (lines[i] ?? '').trim() === '') i++;
  if (lines[i] !== '-----BEGIN PGP SIGNED MESSAGE-----') return text;
  i++;
  // Armor headers (Hash: ...) run up to the first empty line.
  while (i < lines.length && (lines[i] ?? '').trim() !== '') i++;
  i++;
  const body: string[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '-----BEGIN PGP SIGNATURE-----') return `${body.join('\n')}\n`;
    body.push(line.startsWith('- ') ? line.slice(2) : line);
  }
  throw new AptOstreeError('parse-error', 'clearsigned text has no signature block',
    'the file is truncated or not a valid OpenPGP clearsigned document');
}

/* ---------- relationship fields (Depends, Pre-Depends, Build-Depends, Breaks, Conflicts, Provides, ...) ---------- */

export type VersionRelation = '<<' | '<=' | '=' | '>=' | '>>';

export interface PackageRelation {
  name: string;
  /** Multi-Arch qualifier after the colon: `any`, `native` or an architecture name. */
  arch?: string;
  relation?: VersionRelation;
  version?: string;
  /** `[amd64 !i386]`: only in build relationship fields. */
  archRestrictions?: string[];
  /** `<!nocheck> <stage1 cross>`: a list of ANDed terms per `<...>` group, the groups ORed. */
  buildProfiles?: string[][];
}

/** One entry of a relationship field: its alternatives (`a | b`), any one of which satisfies it. */
export type RelationGroup = PackageRelation[];

export interface ProvidedPackage {
  name: string;
  arch?: string;
  /** Versioned provides (`foo (= 1.0)`) carry the version; unversioned ones never satisfy a versioned dependency. */
  version?: string;
}

const RELATION_ATOM = new RegExp(
  '^([A-Za-z0-9][A-Za-z0-9+._-]*)' + // name
  '(?::([A-Za-z0-9-]+))?' + // :arch
  '(?:\\s*\\(\\s*(<<|<=|>=|>>|=|<|>)\\s*([^\\s()<=>]+)\\s*\\))?' + // (op version)
  '(?:\\s*\\[([^\\][]*)\\])?' + // [arch restrictions]
  '((?:\\s*<[^<>]*>)*)$', // <profiles>
);

/**
 * Parses a relationship field into its comma-separated groups of `|` alternatives. Empty groups (a trailing comma, as
 * debian/control files often have) are skipped; anything else that is not valid syntax throws.
 */
export function parseRelationField(value: string): RelationGroup[] {
  const groups: RelationGroup[] = [];
  for (const groupText of value.split(',')) {
    if (groupText.trim() === '') continue;
    groups.push(groupText.split('|').map((atom) => parseRelationAtom(atom, value)));
  }
  return groups;
}

function parseRelationAtom(text: string, field: string): PackageRelation {
  const match = RELATION_ATOM.exec(text.trim());
  if (!match) {
    throw new AptOstreeError('parse-error', `invalid package relation "${text.trim()}" in "${field.slice(0, 200)}"`,
      'expected "name[:arch] [(op version)] [[archs]] [<profiles>]"');
  }
  const [, name = '', arch, op, version, archList, profiles] = match;
  const relation: PackageRelation = { name };
  if (arch !== undefined) relation.arch = arch;
  if (op !== undefined && version !== undefined) {
    relation.relation = normalizeRelation(op);
    relation.version = version;
  }
  if (archList !== undefined) relation.archRestrictions = archList.split(/\s+/).filter((a) => a !== '');
  if (profiles !== undefined && profiles.trim() !== '') {
    relation.buildProfiles = [...profiles.matchAll(/<([^<>]*)>/g)]
      .map((m) => (m[1] ?? '').split(/\s+/).filter((term) => term !== ''));
  }
  return relation;
}

/** dpkg still accepts the obsolete `<` and `>`, which mean `<=` and `>=`, not strict comparisons. */
function normalizeRelation(op: string): VersionRelation {
  switch (op) {
    case '<': return '<=';
    case '>': return '>=';
    case '<<': case '<=': case '=': case '>=': case '>>': return op;
    default: throw new AptOstreeError('internal', `unexpected version relation ${op}`);
  }
}

/** Parses a Provides field: no alternatives, and only `=` versions are allowed. */
export function parseProvides(value: string): ProvidedPackage[] {
  return parseRelationField(value).map((group) => {
    const [only] = group;
    if (only === undefined || group.length !== 1) {
      throw new AptOstreeError('parse-error', `Provides cannot have alternatives: "${value.slice(0, 200)}"`);
    }
    if (only.relation !== undefined && only.relation !== '=') {
      throw new AptOstreeError('parse-error', `Provides allows only "=" versions, got "${only.relation}" for ${only.name}`);
    }
    const provided: ProvidedPackage = { name: only.name };
    if (only.arch !== undefined) provided.arch = only.arch;
    if (only.version !== undefined) provided.version = only.version;
    return provided;
  });
}

/** The canonical text of one relation, e.g. `libc6:any (>= 2.36)`; for messages and for writing fields back. */
export function formatPackageRelation(relation: PackageRelation): string {
  let out = relation.arch === undefined ? relation.name : `${relation.name}:${relation.arch}`;
  if (relation.relation !== undefined && relation.version !== undefined) out += ` (${relation.relation} ${relation.version})`;
  if (relation.archRestrictions) out += ` [${relation.archRestrictions.join(' ')}]`;
  for (const profile of relation.buildProfiles ?? []) out += ` <${profile.join(' ')}>`;
  return out;
}

export function formatRelationField(groups: readonly RelationGroup[]): string {
  return groups.map((group) => group.map(formatPackageRelation).join(' | ')).join(', ');
}
