/**
 * A small, strict XML reader for the documents apt-ostree ships: D-Bus introspection data, the bus policy and the
 * polkit actions file. Elements, attributes, text, comments, a prolog and a DOCTYPE (without an internal subset);
 * no namespaces, no CDATA, no entities beyond the five predefined ones and character references. Anything else,
 * and any well-formedness error (unclosed or mismatched tags, duplicate attributes, stray `<` or `&`), throws
 * with the line number.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text, entities decoded, whitespace kept. */
  text: string;
  line: number;
}

export class XmlError extends Error {
  constructor(message: string, readonly line: number) {
    super(`line ${line}: ${message}`);
    this.name = 'XmlError';
  }
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, line: number): string {
  return raw.replace(/&([^;&\s]*);|&/g, (whole, ref: string | undefined) => {
    if (ref === undefined) throw new XmlError('a bare & (write &amp;)', line);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const value = PREDEFINED[ref];
    if (value === undefined) throw new XmlError(`unknown entity ${whole}`, line);
    return value;
  });
}

/** Parses a whole document and returns its root element. */
export function parseXml(source: string): XmlElement {
  let pos = 0;
  let line = 1;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const advance = (to: number): void => {
    for (let i = pos; i < to; i++) if (source.charCodeAt(i) === 10) line++;
    pos = to;
  };
  const expectEnd = (marker: string, what: string): number => {
    const end = source.indexOf(marker, pos);
    if (end < 0) throw new XmlError(`unterminated ${what}`, line);
    return end;
  };

  while (pos < source.length) {
    const lt = source.indexOf('<', pos);
    const textEnd = lt < 0 ? source.length : lt;
    if (textEnd > pos) {
      const raw = source.slice(pos, textEnd);
      const current = stack.at(-1);
      if (current) current.text += decode(raw, line);
      else if (raw.trim() !== '') throw new XmlError('text outside the root element', line);
      advance(textEnd);
      continue;
    }
    if (source.startsWith('<!--', pos)) {
      const end = expectEnd('-->', 'comment');
      if (source.slice(pos + 4, end).includes('--')) throw new XmlError('"--" inside a comment', line);
      advance(end + 3);
    } else if (source.startsWith('<?', pos)) {
      if (root || stack.length > 0) throw new XmlError('processing instruction after the root element started', line);
      advance(expectEnd('?>', 'processing instruction') + 2);
    } else if (source.startsWith('<!DOCTYPE', pos)) {
      if (root || stack.length > 0) throw new XmlError('DOCTYPE after the root element started', line);
      const end = expectEnd('>', 'DOCTYPE');
      if (source.slice(pos, end).includes('[')) throw new XmlError('DOCTYPE internal subsets are not supported', line);
      advance(end + 1);
    } else if (source.startsWith('<![CDATA[', pos) || source.startsWith('<!', pos)) {
      throw new XmlError('CDATA and declarations are not supported', line);
    } else if (source.startsWith('</', pos)) {
      NAME.lastIndex = pos + 2;
      const m = NAME.exec(source);
      if (!m) throw new XmlError('bad closing tag', line);
      const open = stack.pop();
      if (open?.name !== m[0]) throw new XmlError(`</${m[0]}> closes <${open?.name ?? 'nothing'}>`, line);
      let i = pos + 2 + m[0].length;
      while (/\s/.test(source.charAt(i))) i++;
      if (source.charAt(i) !== '>') throw new XmlError(`bad closing tag </${m[0]}`, line);
      advance(i + 1);
      if (stack.length === 0) root = open;
    } else {
      if (root) throw new XmlError('a second root element', line);
      NAME.lastIndex = pos + 1;
      const m = NAME.exec(source);
      if (!m) throw new XmlError('a stray < (write &lt;)', line);
      const element: XmlElement = { name: m[0], attributes: {}, children: [], text: '', line };
      advance(pos + 1 + m[0].length);
      for (;;) {
        const ws = /\s*/y;
        ws.lastIndex = pos;
        const hadSpace = (ws.exec(source)?.[0].length ?? 0) > 0;
        advance(ws.lastIndex);
        if (source.startsWith('/>', pos) || source.startsWith('>', pos)) break;
        if (!hadSpace) throw new XmlError(`expected whitespace before an attribute in <${element.name}>`, line);
        NAME.lastIndex = pos;
        const a = NAME.exec(source);
        if (!a) throw new XmlError(`bad attribute in <${element.name}>`, line);
        const attr = /\s*=\s*("([^"<]*)"|'([^'<]*)')/y;
        attr.lastIndex = pos + a[0].length;
        const v = attr.exec(source);
        if (!v) throw new XmlError(`attribute ${a[0]} of <${element.name}> needs a quoted value`, line);
        if (Object.hasOwn(element.attributes, a[0])) throw new XmlError(`duplicate attribute ${a[0]}`, line);
        element.attributes[a[0]] = decode(v[2] ?? v[3] ?? '', line);
        advance(attr.lastIndex);
      }
      const selfClosing = source.startsWith('/>', pos);
      advance(pos + (selfClosing ? 2 : 1));
      stack.at(-1)?.children.push(element);
      if (selfClosing) {
        if (stack.length === 0) root = element;
      } else {
        stack.push(element);
      }
    }
  }
  if (stack.length > 0) throw new XmlError(`<${stack.at(-1)?.name ?? ''}> is never closed`, line);
  if (!root) throw new XmlError('no root element', line);
  return root;
}

/** The children of an element with a given name. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}
