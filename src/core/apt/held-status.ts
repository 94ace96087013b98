/**
 * Holding the base: apt is given a copy of the base's dpkg status in which the base packages are on hold, so its
 * resolver looks for a solution that leaves them alone (another alternative of an `a | b` dependency, another
 * provider of a virtual package) instead of quietly upgrading or removing part of the base image.
 */
import { readFile } from 'node:fs/promises';
import { parseDeb822, serializeDeb822 } from '../../lib/deb822.js';
import { writeByRename, type AptEnvironment } from './apt-env.js';

/** Sets the want flag of the named installed packages to `hold` (and of the others back to what the base says). */
export function holdPackages(statusText: string, held: ReadonlySet<string>): string {
  const paragraphs = parseDeb822(statusText, { source: 'dpkg status' });
  for (const paragraph of paragraphs) {
    const name = paragraph.get('Package')?.trim() ?? '';
    const words = (paragraph.get('Status') ?? '').trim().split(/\s+/);
    if (!held.has(name) || words.length !== 3 || words[2] !== 'installed') continue;
    paragraph.set('Status', ['hold', words[1], words[2]].join(' '));
  }
  return serializeDeb822(paragraphs);
}

/** Rewrites the environment's status copy from the base's, with these packages held. */
export async function writeHeldStatus(env: AptEnvironment, held: ReadonlySet<string>): Promise<void> {
  const base = await readFile(env.baseStatusFile, 'utf8');
  await writeByRename(env.statusFile, held.size === 0 ? base : holdPackages(base, held));
}
