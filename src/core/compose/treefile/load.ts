import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadLayer } from './include.js';
import { originAt } from './locate.js';
import { normalize } from './normalize.js';
import type { LoadedTreefile } from './types.js';

/**
 * Reads a treefile (YAML or JSON) and everything it includes, validates it and returns it normalized. Every problem
 * is an AptOstreeError (`treefile-invalid`, or `treefile-not-found` for a missing treefile or include) whose message
 * starts with the file, line and column of the first problem.
 */
export async function loadTreefile(path: string): Promise<LoadedTreefile> {
  const file = resolve(path);
  const files: string[] = [];
  const real = await realpath(file).catch(() => file);
  const layer = await loadLayer(file, { chain: [file], real: [real], files });
  const { treefile, origin } = normalize(layer);
  return { treefile, files, where: (p) => originAt(origin, p)?.at };
}
