import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A Boot Loader Specification entry as OSTree writes it under /boot/loader.N/entries. */
export interface BootEntry {
  file: string;
  /** Keys in file order; OSTree writes title, version, options, linux, initrd (and devicetree, aboot…). */
  fields: [string, string][];
}

export function entryField(entry: BootEntry, key: string): string | undefined {
  return entry.fields.find(([k]) => k === key)?.[1];
}

export function parseBootEntry(file: string, text: string): BootEntry {
  const fields: [string, string][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s+(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && !line.trimStart().startsWith('#')) fields.push([m[1], m[2]]);
  }
  return { file, fields };
}

export function serializeBootEntry(entry: BootEntry): string {
  return entry.fields.map(([k, v]) => `${k} ${v}`).join('\n') + '\n';
}

/** Entries in boot order: OSTree gives the default deployment the highest `version`. */
export async function readBootEntries(entriesDir: string): Promise<BootEntry[]> {
  let names: string[];
  try {
    names = (await readdir(entriesDir)).filter((n) => n.endsWith('.conf'));
  } catch {
    return [];
  }
  const entries = await Promise.all(
    names.map(async (n) => parseBootEntry(join(entriesDir, n), await readFile(join(entriesDir, n), 'utf8'))),
  );
  return entries.sort((a, b) => Number(entryField(b, 'version') ?? 0) - Number(entryField(a, 'version') ?? 0));
}
