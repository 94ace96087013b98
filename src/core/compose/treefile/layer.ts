/**
 * One treefile as a layer of the merge: host paths made absolute against the treefile that names them, add-files in
 * one form, postprocess and postprocess-script in one ordered list, and an origin tree that follows those changes.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Origin } from './locate.js';
import type { RawTreefile } from './schema.js';
import type { PostprocessStep, Treefile, TreefileAddFile, TreefileRepo } from './types.js';

export type LayerRepo = Omit<TreefileRepo, 'suites' | 'components' | 'trusted'> & Partial<Pick<TreefileRepo, 'suites' | 'components' | 'trusted'>>;

/** What one treefile (or a merge of several) sets; absent keys are left to includes and then to defaults. */
export type LayerData = Partial<Omit<Treefile, 'repos'>> & { repos?: LayerRepo[] };

export interface Layer {
  data: LayerData;
  /** Shaped like `data`, so a `where()` path into the result finds the place it was written. */
  origin: Origin;
}

/** A host path a treefile names, with where it is named. */
export interface HostPath { key: string; path: string; origin: Origin | undefined }

function child(origin: Origin | undefined, ...path: (string | number)[]): Origin | undefined {
  let current = origin;
  for (const segment of path) current = current?.children.get(segment);
  return current;
}

function listOf(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}

/** Each host path of a treefile (not its includes): add-files sources, scripts and keyrings, for existence checks. */
export function hostPaths(raw: RawTreefile, origin: Origin, file: string): HostPath[] {
  const dir = dirname(file);
  const paths: HostPath[] = [];
  raw.repos?.forEach((repo, i) => {
    if (repo['signed-by'] !== undefined) {
      paths.push({ key: `repos[${i}].signed-by`, path: resolve(dir, repo['signed-by']), origin: child(origin, 'repos', i, 'signed-by') });
    }
  });
  raw['add-files']?.forEach((entry, i) => {
    const src = Array.isArray(entry) ? entry[0] : entry.src;
    paths.push({ key: `add-files[${i}].src`, path: resolve(dir, src), origin: child(origin, 'add-files', i, Array.isArray(entry) ? 0 : 'src') });
  });
  raw['local-debs']?.forEach((deb, i) => {
    paths.push({ key: `local-debs[${i}]`, path: resolve(dir, deb), origin: child(origin, 'local-debs', i) });
  });
  const scripts = raw['postprocess-script'];
  listOf(scripts).forEach((script, i) => {
    const key = typeof scripts === 'string' ? 'postprocess-script' : `postprocess-script[${i}]`;
    const at = typeof scripts === 'string' ? child(origin, 'postprocess-script') : child(origin, 'postprocess-script', i);
    paths.push({ key, path: resolve(dir, script), origin: at });
  });
  return paths;
}

/** The first host path that does not exist, in document order. */
export async function firstMissing(paths: readonly HostPath[]): Promise<HostPath | undefined> {
  const missing: HostPath[] = [];
  for (const p of paths) {
    try {
      await stat(p.path);
    } catch {
      missing.push(p);
    }
  }
  return missing.sort((a, b) => (a.origin?.offset ?? 0) - (b.origin?.offset ?? 0))[0];
}

export function toLayer(raw: RawTreefile, origin: Origin, file: string): Layer {
  const dir = dirname(file);
  const { repos, 'add-files': addFiles, postprocess, 'postprocess-script': scripts } = raw;
  const copy: Partial<RawTreefile> = { ...raw };
  // Includes are done by now, $schema is for editors, and the other keys are rebuilt below.
  delete copy.$schema;
  delete copy.include;
  delete copy.repos;
  delete copy['add-files'];
  delete copy.postprocess;
  delete copy['postprocess-script'];
  const data: LayerData = copy as LayerData;
  const children = new Map(origin.children);
  children.delete('$schema');
  children.delete('include');
  children.delete('postprocess-script');

  if (repos !== undefined) {
    data.repos = repos.map((repo) => {
      const { 'signed-by': signedBy, ...others } = repo;
      return signedBy === undefined ? others : { ...others, 'signed-by': resolve(dir, signedBy) };
    });
  }

  if (raw['local-debs'] !== undefined) data['local-debs'] = raw['local-debs'].map((deb) => resolve(dir, deb));

  if (addFiles !== undefined) {
    const pairOrigins = new Map<string | number, Origin>();
    data['add-files'] = addFiles.map((entry, i): TreefileAddFile => {
      const at = child(origin, 'add-files', i);
      if (!Array.isArray(entry)) return { ...entry, src: resolve(dir, entry.src) };
      // The [src, dest] form: where(['add-files', i, 'src']) must still find the first element.
      if (at !== undefined) {
        const named = new Map<string | number, Origin>();
        const src = at.children.get(0);
        const dest = at.children.get(1);
        if (src !== undefined) named.set('src', src);
        if (dest !== undefined) named.set('dest', dest);
        pairOrigins.set(i, { ...at, children: named });
      }
      return { src: resolve(dir, entry[0]), dest: entry[1] };
    });
    const listOrigin = child(origin, 'add-files');
    if (listOrigin !== undefined) {
      children.set('add-files', { ...listOrigin, children: new Map([...listOrigin.children, ...pairOrigins]) });
    }
  }

  // rpm-ostree order: the inline scripts, then the script files.
  const steps: PostprocessStep[] = [];
  const stepOrigins = new Map<string | number, Origin>();
  const unknown = origin.at;
  postprocess?.forEach((text, i) => {
    const at = child(origin, 'postprocess', i);
    if (at !== undefined) stepOrigins.set(steps.length, at);
    steps.push({ kind: 'inline', text, where: at?.at ?? unknown });
  });
  listOf(scripts).forEach((script, i) => {
    const at = typeof scripts === 'string' ? child(origin, 'postprocess-script') : child(origin, 'postprocess-script', i);
    if (at !== undefined) stepOrigins.set(steps.length, at);
    steps.push({ kind: 'file', path: resolve(dir, script), where: at?.at ?? unknown });
  });
  if (steps.length > 0) {
    data.postprocess = steps;
    const anchor = child(origin, 'postprocess') ?? child(origin, 'postprocess-script') ?? origin;
    children.set('postprocess', { at: anchor.at, offset: anchor.offset, children: stepOrigins });
  } else {
    children.delete('postprocess');
  }

  return { data, origin: { ...origin, children } };
}
