/**
 * Reads one treefile into a YAML document that remembers where every node is. JSON is YAML 1.2, so one parser reads
 * both and every later error can point at a line and column in either.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { AptOstreeError } from '../../../lib/errors.js';

export const TREEFILE_HINT = 'see docs/treefile.md for every treefile key';

export interface Source {
  /** Absolute path. */
  file: string;
  doc: Document.Parsed;
  /** "file:line:col" of a character offset. */
  at(offset: number): string;
}

function positionAt(file: string, lineCounter: LineCounter, offset: number): string {
  const { line, col } = lineCounter.linePos(offset);
  return `${file}:${line}:${col}`;
}

/** `file` must be absolute; `from` is where it was named (an include), for the message when it is missing. */
export async function readSource(file: string, from?: { at: string }): Promise<Source> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const prefix = from === undefined ? '' : `${from.at}: include: `;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new AptOstreeError('treefile-not-found', `${prefix}no treefile at ${file}`,
        from === undefined ? 'check the path of the treefile' : 'include paths are relative to the treefile that names them',
        { cause: err });
    }
    throw new AptOstreeError('treefile-invalid', `${prefix}cannot read ${file}: ${(err as Error).message}`,
      'a treefile must be a readable YAML or JSON file', { cause: err });
  }
  const lineCounter = new LineCounter();
  // uniqueKeys: a repeated key would otherwise silently keep its last value.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const at = (offset: number): string => positionAt(file, lineCounter, offset);
  // Warnings (an unknown !tag, a YAML 1.1 directive) change what a value means, so they count as errors here.
  const problem = [...doc.errors, ...doc.warnings].sort((a, b) => a.pos[0] - b.pos[0])[0];
  if (problem !== undefined) {
    const what = problem.code === 'DUPLICATE_KEY'
      ? `duplicate key ${keyTextAt(text, problem.pos[0])}`.trimEnd()
      : `YAML syntax error: ${firstLine(problem.message)}`;
    throw new AptOstreeError('treefile-invalid', `${at(problem.pos[0])}: ${what}`,
      problem.code === 'DUPLICATE_KEY' ? 'each key may appear once in a mapping; merge the two values' : 'a treefile is YAML or JSON');
  }
  return { file, doc, at };
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

// The key as written, for the message: up to the colon (YAML) or the closing quote (JSON).
function keyTextAt(text: string, offset: number): string {
  const rest = text.slice(offset);
  const quoted = /^"((?:[^"\\\n]|\\.)*)"/.exec(rest) ?? /^'([^'\n]*)'/.exec(rest);
  if (quoted !== null) return JSON.stringify(quoted[1]);
  const plain = /^[^:\n,}\]]*/.exec(rest)?.[0].trim() ?? '';
  return plain === '' ? '' : JSON.stringify(plain);
}
