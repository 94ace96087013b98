/**
 * The two GVariant text forms commit metadata needs: an array of strings (`as`) for `ostree commit
 * --add-metadata=KEY=VALUE`, and reading it back from `ostree show --print-metadata-key`, which prints
 * `['a', 'b']`, `@as []` for an empty array, and double quotes around strings that contain a single quote.
 */

function quote(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\t/g, '\\t')}'`;
}

export function formatStringArray(values: readonly string[]): string {
  return values.length === 0 ? '@as []' : `[${values.map(quote).join(', ')}]`;
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', a: '\x07' };

/** Parses `['a', "b'c"]` or `@as []`; undefined when the text is not an array of strings. */
export function parseStringArray(text: string): string[] | undefined {
  const body = text.trim().replace(/^@as\s+/, '');
  if (!body.startsWith('[') || !body.endsWith(']')) return undefined;
  const values: string[] = [];
  let i = 1;
  const end = body.length - 1;
  const skipBlanks = (): void => { while (i < end && /\s/.test(body.charAt(i))) i++; };
  skipBlanks();
  while (i < end) {
    const q = body.charAt(i);
    if (q !== "'" && q !== '"') return undefined;
    let value = '';
    i++;
    while (i < end && body.charAt(i) !== q) {
      let ch = body.charAt(i);
      if (ch === '\\') {
        const next = body.charAt(++i);
        if (next === 'u' || next === 'U') {
          const digits = next === 'u' ? 4 : 8;
          ch = String.fromCodePoint(parseInt(body.slice(i + 1, i + 1 + digits), 16));
          i += digits;
        } else {
          ch = ESCAPES[next] ?? next;
        }
      }
      value += ch;
      i++;
    }
    if (body.charAt(i) !== q) return undefined;
    values.push(value);
    i++;
    skipBlanks();
    if (body.charAt(i) === ',') i++;
    skipBlanks();
  }
  return values;
}
