/**
 * GLib key files (the format of OSTree's origin files and of apt-ostreed.conf), edited without losing what we do not
 * know: comments, blank lines, unknown groups and keys keep their place on a round trip.
 */
type Line =
  | { kind: 'raw'; text: string }
  | { kind: 'group'; name: string }
  | { kind: 'entry'; key: string; value: string };

export class KeyFile {
  private lines: Line[] = [];

  static parse(text: string): KeyFile {
    const file = new KeyFile();
    for (const text_ of text.split('\n')) {
      const line = text_.replace(/\r$/, '');
      const trimmed = line.trim();
      const group = /^\[([^\]]+)\]$/.exec(trimmed);
      const eq = line.indexOf('=');
      if (group?.[1] !== undefined) file.lines.push({ kind: 'group', name: group[1] });
      else if (trimmed === '' || trimmed.startsWith('#') || eq < 0) file.lines.push({ kind: 'raw', text: line });
      else file.lines.push({ kind: 'entry', key: line.slice(0, eq).trim(), value: unescapeValue(line.slice(eq + 1).trim()) });
    }
    while (file.lines.at(-1)?.kind === 'raw' && (file.lines.at(-1) as { text: string }).text === '') file.lines.pop();
    return file;
  }

  groups(): string[] {
    return this.lines.flatMap((l) => (l.kind === 'group' ? [l.name] : []));
  }

  has(group: string, key: string): boolean {
    return this.find(group, key) !== undefined;
  }

  /** The keys of a group, in file order; [] for a group that is not there. */
  keys(group: string): string[] {
    const out: string[] = [];
    let inGroup = false;
    for (const l of this.lines) {
      if (l.kind === 'group') inGroup = l.name === group;
      else if (inGroup && l.kind === 'entry') out.push(l.key);
    }
    return out;
  }

  get(group: string, key: string): string | undefined {
    const i = this.find(group, key);
    return i === undefined ? undefined : (this.lines[i] as { value: string }).value;
  }

  getBoolean(group: string, key: string): boolean {
    return this.get(group, key) === 'true';
  }

  /** GLib string lists: `a;b;c;` */
  getList(group: string, key: string): string[] {
    const value = this.get(group, key);
    if (value === undefined) return [];
    return value.split(';').map((s) => s.trim()).filter((s) => s !== '');
  }

  set(group: string, key: string, value: string): void {
    const i = this.find(group, key);
    if (i !== undefined) {
      this.lines[i] = { kind: 'entry', key, value };
      return;
    }
    const end = this.groupEnd(group);
    if (end === undefined) {
      if (this.lines.length > 0) this.lines.push({ kind: 'raw', text: '' });
      this.lines.push({ kind: 'group', name: group }, { kind: 'entry', key, value });
    } else {
      this.lines.splice(end, 0, { kind: 'entry', key, value });
    }
  }

  setList(group: string, key: string, values: readonly string[]): void {
    if (values.length === 0) this.delete(group, key);
    else this.set(group, key, values.map((v) => `${v};`).join(''));
  }

  delete(group: string, key: string): void {
    const i = this.find(group, key);
    if (i !== undefined) this.lines.splice(i, 1);
  }

  /** Drops a group and everything in it. */
  deleteGroup(group: string): void {
    const start = this.lines.findIndex((l) => l.kind === 'group' && l.name === group);
    if (start < 0) return;
    let end = start + 1;
    while (end < this.lines.length && this.lines[end]?.kind !== 'group') end++;
    // The blank line that separated it from the group before goes with it.
    const before = this.lines[start - 1];
    const from = before?.kind === 'raw' && before.text === '' ? start - 1 : start;
    this.lines.splice(from, end - from);
  }

  clone(): KeyFile {
    return KeyFile.parse(this.toString());
  }

  toString(): string {
    const out = this.lines.map((l) => {
      if (l.kind === 'group') return `[${l.name}]`;
      if (l.kind === 'entry') return `${l.key}=${escapeValue(l.value)}`;
      return l.text;
    });
    return `${out.join('\n')}\n`;
  }

  private find(group: string, key: string): number | undefined {
    let inGroup = false;
    for (let i = 0; i < this.lines.length; i++) {
      const l = this.lines[i];
      if (l?.kind === 'group') inGroup = l.name === group;
      else if (inGroup && l?.kind === 'entry' && l.key === key) return i;
    }
    return undefined;
  }

  /** Index just past the last entry of the group (before trailing blank lines). */
  private groupEnd(group: string): number | undefined {
    const start = this.lines.findIndex((l) => l.kind === 'group' && l.name === group);
    if (start < 0) return undefined;
    let end = start + 1;
    let lastEntry = start + 1;
    while (end < this.lines.length && this.lines[end]?.kind !== 'group') {
      if (this.lines[end]?.kind === 'entry') lastEntry = end + 1;
      end++;
    }
    return lastEntry;
  }
}

function unescapeValue(v: string): string {
  return v.replace(/\\([nts\\r])/g, (_m, c: string) => ({ n: '\n', t: '\t', s: ' ', r: '\r', '\\': '\\' })[c] ?? c);
}

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/^ /, '\\s');
}
