import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FilePackageRequest } from '../../apt/package-request.js';
import type { OsView } from '../context.js';
import { layeringPaths } from './paths.js';

/**
 * A local .deb is kept in the stateroot by content hash, so that the layering can be rebuilt on every new base
 * after the user's file is gone; the origin records `sha256:<hex>:<name>`.
 */
export async function storeLocalDeb(view: OsView, request: FilePackageRequest): Promise<string> {
  const hex = createHash('sha256').update(await readFile(request.path)).digest('hex');
  const dir = layeringPaths(view).localDebsDir;
  await mkdir(dir, { recursive: true });
  const target = join(dir, `${hex}.deb`);
  await copyFile(request.path, `${target}.tmp`);
  await rename(`${target}.tmp`, target);
  return `sha256:${hex}:${request.name}`;
}
