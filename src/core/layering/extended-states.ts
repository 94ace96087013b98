/**
 * apt's auto/manual marks (extended_states) of the new tree: the dependencies apt pulled in are "automatic", so a
 * later uninstall of what the user asked for can remove them again; what the user asked for is manual. apt writes
 * one paragraph per package it tracks; entries of other packages (the base image's) are kept as they are.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Deb822Paragraph, parseDeb822, serializeDeb822 } from '../../lib/deb822.js';
import { APT_EXTENDED_STATES } from '../compose/contract-paths.js';
import { isErrno, writeFileByRename } from '../compose/tree-fs.js';
import type { LayeringPlan } from '../apt/plan.js';

/** apt records an Architecture: all package under the native architecture, as its cache does. */
function aptArch(arch: string, nativeArch: string): string {
  return arch === 'all' ? nativeArch : arch;
}

export function updateExtendedStates(text: string, plan: LayeringPlan, nativeArch: string): string {
  const paragraphs = text.trim() === '' ? [] : parseDeb822(text, { source: APT_EXTENDED_STATES });
  const key = (name: string, arch: string): string => `${name}:${aptArch(arch, nativeArch)}`;
  const byKey = new Map(paragraphs.map((p) => [key(p.get('Package') ?? '', p.get('Architecture') ?? nativeArch), p]));
  const removed = new Set(plan.remove.map((r) => key(r.name, r.arch)));
  for (const pkg of plan.install) {
    const k = key(pkg.name, pkg.arch);
    const existing = byKey.get(k);
    if (!pkg.requested) {
      if (existing) existing.set('Auto-Installed', '1');
      else {
        byKey.set(k, new Deb822Paragraph([
          ['Package', pkg.name], ['Architecture', aptArch(pkg.arch, nativeArch)], ['Auto-Installed', '1'],
        ]));
      }
    } else if (existing) {
      // Asking for an automatically installed package by name makes it manual, as `apt-get install` does.
      existing.set('Auto-Installed', '0');
    }
  }
  return serializeDeb822([...byKey].filter(([k]) => !removed.has(k)).map(([, p]) => p));
}

/** Rewrites APT_EXTENDED_STATES of `tree` for `plan` (by rename: the file may be shared with the repository). */
export async function writeExtendedStates(tree: string, plan: LayeringPlan, nativeArch: string): Promise<void> {
  const path = join(tree, APT_EXTENDED_STATES);
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await writeFileByRename(path, updateExtendedStates(text, plan, nativeArch));
}
