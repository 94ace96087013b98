/**
 * Reading a treefile and, depth-first, the treefiles it includes: each include is merged under its includer, in the
 * order listed, so later includes override earlier ones and the includer overrides them all.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { AptOstreeError } from '../../../lib/errors.js';
import { validateTreefile } from './issues.js';
import { firstMissing, hostPaths, toLayer, type Layer } from './layer.js';
import { originTree, type Origin } from './locate.js';
import { mergeLayers } from './merge.js';
import { readSource, TREEFILE_HINT, type Source } from './parse.js';

interface Visit {
  /** Absolute paths as reached, the top treefile first, for the cycle message. */
  chain: readonly string[];
  /** The same files by real path: a symlinked include is still the same file. */
  real: readonly string[];
  /** Every treefile read, in order. */
  files: string[];
}

interface Include { path: string; origin: Origin }

function includesOf(raw: { include?: string | string[] | undefined }, origin: Origin, file: string): Include[] {
  const list = raw.include === undefined ? [] : typeof raw.include === 'string' ? [raw.include] : raw.include;
  const at = origin.children.get('include');
  return list.map((p, i) => ({
    path: resolve(dirname(file), p),
    origin: (typeof raw.include === 'string' ? at : at?.children.get(i)) ?? origin,
  }));
}

function parsed(source: Source): unknown {
  try {
    return source.doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Only an alias bomb gets here: the syntax was already checked.
    throw new AptOstreeError('treefile-invalid', `${source.at(0)}: ${(err as Error).message}`, 'use fewer YAML aliases', { cause: err });
  }
}

type Check = { offset: number; error: () => AptOstreeError };

async function includeCheck(inc: Include, visit: Visit): Promise<Check | undefined> {
  let kind: 'file' | 'missing' | 'other';
  try {
    kind = (await stat(inc.path)).isFile() ? 'file' : 'other';
  } catch {
    kind = 'missing';
  }
  if (kind === 'missing') {
    return { offset: inc.origin.offset, error: () => new AptOstreeError('treefile-not-found', `${inc.origin.at}: include: no treefile at ${inc.path}`,
      'include paths are relative to the treefile that names them') };
  }
  if (kind === 'other') {
    return { offset: inc.origin.offset, error: () => new AptOstreeError('treefile-invalid', `${inc.origin.at}: include: ${inc.path} is not a file`, TREEFILE_HINT) };
  }
  const index = visit.real.indexOf(await realpath(inc.path));
  if (index < 0) return undefined;
  const cycle = [...visit.chain.slice(index), inc.path].join(' -> ');
  return { offset: inc.origin.offset, error: () => new AptOstreeError('treefile-invalid', `${inc.origin.at}: include cycle: ${cycle}`,
    'a treefile can not include itself, directly or through other includes') };
}

export async function loadLayer(file: string, visit: Visit, from?: Origin): Promise<Layer> {
  const source = await readSource(file, from);
  if (!visit.files.includes(file)) visit.files.push(file);
  const raw = validateTreefile(source, parsed(source));
  const origin = originTree(source);
  const includes = includesOf(raw, origin, file);

  // Everything wrong in this file is reported in document order, before anything in the files it includes.
  const checks: Check[] = [];
  for (const inc of includes) {
    const check = await includeCheck(inc, visit);
    if (check !== undefined) checks.push(check);
  }
  const missing = await firstMissing(hostPaths(raw, origin, file));
  if (missing !== undefined) {
    const at = missing.origin ?? origin;
    checks.push({ offset: at.offset, error: () => new AptOstreeError('treefile-invalid', `${at.at}: ${missing.key}: no such file: ${missing.path}`,
      'paths are relative to the treefile that names them') });
  }
  const first = checks.sort((a, b) => a.offset - b.offset)[0];
  if (first !== undefined) throw first.error();

  const layers: Layer[] = [];
  for (const inc of includes) {
    const next: Visit = { chain: [...visit.chain, inc.path], real: [...visit.real, await realpath(inc.path)], files: visit.files };
    layers.push(await loadLayer(inc.path, next, inc.origin));
  }
  return [...layers, toLayer(raw, origin, file)].reduce(mergeLayers);
}
