/** How values and key paths are spelled in treefile error messages, which must stay on one line. */

/** A value as a message shows it: JSON-quoted (so control characters stay escaped) and cut when long. */
export function quote(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** What a value is, for "expected X, got Y". */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 1 ? 'a list of 1 item' : `a list of ${value.length} items`;
  switch (typeof value) {
    case 'string': return `a string (${quote(value)})`;
    case 'number': return `a number (${String(value)})`;
    case 'boolean': return `a boolean (${String(value)})`;
    case 'object': return 'a mapping';
    default: return typeof value;
  }
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `repos[0].suites[1]`, `metadata."a b"`: the path of a value as the treefile's reader sees it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      const shown = PLAIN_KEY.test(key) ? key : quote(key);
      out += out === '' ? shown : `.${shown}`;
    }
  }
  return out;
}
