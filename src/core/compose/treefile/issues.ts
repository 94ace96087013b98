/**
 * Zod's issues → the one error a user sees: the first problem in document order, as
 * "<file>:<line>:<col>: <key path>: <what is wrong>".
 */
import { z } from 'zod';
import { AptOstreeError } from '../../../lib/errors.js';
import { firstKey, locate } from './locate.js';
import type { Source } from './parse.js';
import { TREEFILE_HINT } from './parse.js';
import { TreefileSchema, type RawTreefile } from './schema.js';
import { closest } from './suggest.js';
import { describe, formatPath } from './text.js';

interface Problem { offset: number; message: string; hint: string }

function quoteHint(source: Source): string {
  return source.file.endsWith('.json')
    ? 'write the value as a JSON string, in double quotes'
    : 'quote the value: YAML reads 0644 as the number 644 and 2026.10 as the number 2026.1';
}

/** The treefile's data as written, checked against the schema; throws on the first problem in document order. */
export function validateTreefile(source: Source, data: unknown): RawTreefile {
  const result = TreefileSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => problemOf(source, data, issue, []));
  const first = problems.reduce((a, b) => (b.offset < a.offset ? b : a));
  return fail(source, first);
}

function fail(source: Source, problem: Problem): never {
  throw new AptOstreeError('treefile-invalid', `${source.at(problem.offset)}: ${problem.message}`, problem.hint);
}

function join(path: readonly PropertyKey[], message: string): string {
  const shown = formatPath(path);
  return shown === '' ? message : `${shown}: ${message}`;
}

function problemOf(source: Source, data: unknown, issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): Problem {
  const path = [...prefix, ...issue.path];
  const at = (opts?: { key?: boolean }): number => locate(source, path, opts);
  switch (issue.code) {
    case 'invalid_union': {
      // The branch whose type matched (a mapping given where a mapping or a pair is allowed) says what is wrong.
      const branch = issue.errors.find((errors) => !errors.some((e) => e.path.length === 0 && e.code === 'invalid_type'));
      if (branch !== undefined && branch.length > 0) {
        return branch.map((e) => problemOf(source, data, e, path)).reduce((a, b) => (b.offset < a.offset ? b : a));
      }
      return { offset: at(), message: join(path, issue.message), hint: TREEFILE_HINT };
    }
    case 'invalid_type': {
      const parent = path.slice(0, -1);
      const last = path.at(-1);
      if (last !== undefined && !hasKey(valueAt(data, parent), last)) {
        return { offset: locate(source, parent), message: join(parent, `missing required key "${String(last)}"`), hint: TREEFILE_HINT };
      }
      const value = valueAt(data, path);
      if (path.length === 0 && value === null) return { offset: 0, message: 'the treefile is empty', hint: 'a treefile needs at least a ref' };
      const quote = issue.expected === 'string' && typeof value === 'number';
      return { offset: at(), message: join(path, issue.message), hint: quote ? quoteHint(source) : TREEFILE_HINT };
    }
    case 'unrecognized_keys': {
      const { key, offset } = firstKey(source, path, issue.keys);
      const known = (objectKeysAt(TreefileSchema, path) ?? []).filter((k) => !k.startsWith('$'));
      const suggestion = closest(key, known);
      const where = path.length === 0 ? '' : `${formatPath(path)}: `;
      return suggestion !== undefined
        ? { offset, message: `${where}unknown key "${key}"; did you mean "${suggestion}"?`, hint: TREEFILE_HINT }
        : { offset, message: `${where}unknown key "${key}"`, hint: `the keys here are ${known.join(', ')}` };
    }
    case 'invalid_value': {
      const value = valueAt(data, path);
      const values = issue.values.map(String);
      const suggestion = typeof value === 'string' ? closest(value, values) : undefined;
      const message = `expected one of ${values.join(', ')}, got ${describe(value)}${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`}`;
      return { offset: at(), message: join(path, message), hint: TREEFILE_HINT };
    }
    case 'invalid_key':
      return { offset: at({ key: true }), message: join(path, issue.issues[0]?.message ?? issue.message), hint: TREEFILE_HINT };
    default:
      return { offset: at(), message: join(path, issue.message), hint: TREEFILE_HINT };
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

function hasKey(container: unknown, key: PropertyKey): boolean {
  return container !== null && typeof container === 'object' && Object.hasOwn(container, key);
}

/** The keys a strict object at `path` of the schema accepts, for "did you mean". */
function objectKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] | undefined {
  if (schema instanceof z.ZodOptional) return objectKeysAt(schema.unwrap(), path);
  if (schema instanceof z.ZodUnion) {
    for (const option of schema.options) {
      const keys = objectKeysAt(option, path);
      if (keys !== undefined) return keys;
    }
    return undefined;
  }
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, unknown>;
    if (path.length === 0) return Object.keys(shape);
    const [head, ...rest] = path;
    return typeof head === 'string' && Object.hasOwn(shape, head) ? objectKeysAt(shape[head], rest) : undefined;
  }
  if (schema instanceof z.ZodArray) return path.length === 0 ? undefined : objectKeysAt(schema.element, path.slice(1));
  return undefined;
}
