/**
 * From a key path (as zod reports it, or as `where()` is asked) to a place in a treefile: the YAML node's first
 * character, as "file:line:col".
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import type { Source } from './parse.js';

/** Where a value and each of its parts were written. */
export interface Origin {
  at: string;
  /** Document offset of `at`, to put several problems in document order. */
  offset: number;
  children: Map<string | number, Origin>;
}

type Segment = string | number;

function deref(node: unknown, doc: Document.Parsed): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function keyOf(pair: Pair, doc: Document.Parsed): string {
  const key = deref(pair.key, doc);
  return isScalar(key) ? String(key.value) : String(key);
}

function startOf(node: unknown): number | undefined {
  return (node as Partial<Node> | null)?.range?.[0];
}

// `packages:` with nothing after it has an empty node at the start of the next line; its key is the better place.
function valueOffset(pair: Pair): number {
  const value = pair.value as Partial<Node> | null;
  const range = value?.range;
  if (range != null && !(isScalar(value) && value.value === null && range[0] === range[1])) return range[0];
  return startOf(pair.key) ?? 0;
}

interface Step { node: unknown; offset: number; keyOffset: number }

function child(doc: Document.Parsed, node: unknown, segment: Segment): Step | undefined {
  const target = deref(node, doc);
  if (isMap(target)) {
    const pair = target.items.find((p) => keyOf(p, doc) === String(segment));
    if (pair === undefined) return undefined;
    return { node: pair.value, offset: valueOffset(pair), keyOffset: startOf(pair.key) ?? valueOffset(pair) };
  }
  if (isSeq(target) && typeof segment === 'number') {
    const item = target.items[segment];
    const offset = startOf(item);
    return offset === undefined ? undefined : { node: item, offset, keyOffset: offset };
  }
  return undefined;
}

/**
 * The offset of the value at `path`, or of its nearest written ancestor when the value is not there (a missing key
 * is reported at the mapping that lacks it). With `key`, the offset of the key rather than of its value.
 */
export function locate(source: Source, path: readonly PropertyKey[], opts: { key?: boolean } = {}): number {
  let node: unknown = source.doc.contents;
  let step: Step = { node, offset: startOf(node) ?? 0, keyOffset: startOf(node) ?? 0 };
  for (const segment of path) {
    if (typeof segment === 'symbol') break;
    const next = child(source.doc, node, segment);
    if (next === undefined) return step.offset;
    step = next;
    node = next.node;
  }
  return opts.key === true ? step.keyOffset : step.offset;
}

/** The first of `keys` in document order in the mapping at `path`, and where that key is written. */
export function firstKey(source: Source, path: readonly PropertyKey[], keys: readonly string[]): { key: string; offset: number } {
  const located = keys.map((key) => ({ key, offset: locate(source, [...path, key], { key: true }) }));
  located.sort((a, b) => a.offset - b.offset);
  return located[0] ?? { key: keys[0] ?? '', offset: locate(source, path) };
}

// Aliases may point at their own ancestors; nothing in a treefile is nested this deep.
const MAX_DEPTH = 32;

/** The origin tree of a whole document. */
export function originTree(source: Source): Origin {
  const build = (node: unknown, offset: number, depth: number): Origin => {
    const origin: Origin = { at: source.at(offset), offset, children: new Map() };
    const target = deref(node, source.doc);
    if (depth >= MAX_DEPTH) return origin;
    if (isMap(target)) {
      for (const pair of target.items) origin.children.set(keyOf(pair, source.doc), build(pair.value, valueOffset(pair), depth + 1));
    } else if (isSeq(target)) {
      target.items.forEach((item, i) => { origin.children.set(i, build(item, startOf(item) ?? offset, depth + 1)); });
    }
    return origin;
  };
  return build(source.doc.contents, startOf(source.doc.contents) ?? 0, 0);
}

export function originAt(origin: Origin | undefined, path: readonly Segment[]): Origin | undefined {
  let current = origin;
  for (const segment of path) current = current?.children.get(segment);
  return current;
}
