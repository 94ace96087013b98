/**
 * debian/copyright (DEP-5) for the package: packaging/copyright for apt-ostree itself, then one paragraph per npm
 * package the bundles contain, found in their source maps so that a new dependency can not ship without its license.
 */
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

/** SPDX identifiers (package.json) to DEP-5 short names; a license not listed stops the build for a human to look. */
const DEP5_NAMES: Record<string, string> = {
  'MIT': 'Expat',
  'ISC': 'ISC',
  'Apache-2.0': 'Apache-2.0',
  'BSD-2-Clause': 'BSD-2-clause',
  'BSD-3-Clause': 'BSD-3-clause',
  'BlueOak-1.0.0': 'BlueOak-1.0.0',
};

/** Licenses Debian ships in /usr/share/common-licenses: the copyright file points there instead of copying them. */
const COMMON_LICENSES: Record<string, string> = {
  'Apache-2.0': 'Apache License, Version 2.0',
};

const EXPAT = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`;

export interface BundledPackage {
  name: string;
  version: string;
  /** The package directory under node_modules. */
  dir: string;
  license: string;
  copyright: string[];
  licenseText: string;
}

/** The package directories (…/node_modules/<name> or …/node_modules/@scope/<name>) a source map's sources live in. */
export async function bundledPackageDirs(sourceMap: string): Promise<string[]> {
  const map = JSON.parse(await readFile(sourceMap, 'utf8')) as { sourceRoot?: string; sources: string[] };
  const dirs = new Set<string>();
  for (const source of map.sources) {
    const abs = resolve(dirname(sourceMap), map.sourceRoot ?? '', source);
    const parts = abs.split(sep);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0) continue;
    const scoped = parts[at + 1]?.startsWith('@') === true;
    dirs.add(parts.slice(0, at + (scoped ? 3 : 2)).join(sep));
  }
  return [...dirs].sort();
}

function personName(p: unknown): string | undefined {
  if (typeof p === 'string') return p.replace(/\s*\(https?:[^)]*\)/, '').trim();
  if (typeof p === 'object' && p !== null && 'name' in p && typeof p.name === 'string') {
    const email = 'email' in p && typeof p.email === 'string' ? ` <${p.email}>` : '';
    return `${p.name}${email}`;
  }
  return undefined;
}

/**
 * The copyright statements of a license file: its `Copyright …` lines without the word itself. A statement that names
 * nobody (`Copyright 2010, 2011. All rights reserved.`) gets the package's author, as does a file without any.
 */
function copyrightLines(licenseText: string, author: string | undefined): string[] {
  const found = licenseText.split('\n')
    .filter((l) => /^\s*copyright\b/i.test(l) && !/\b(notice|holders?|owner)\b/i.test(l))
    .map((l) => l.trim().replace(/^copyright\s*(\(c\)|©)?\s*/i, '').replace(/\s*all rights reserved\.?$/i, '').replace(/[.,]$/, ''))
    .filter((l) => l !== '')
    .map((l) => (/[A-Za-z]/.test(l) || author === undefined ? l : `${l} ${author}`));
  if (found.length > 0) return found;
  if (author === undefined) throw new Error('no copyright statement and no author');
  return [author];
}

export async function readBundledPackage(dir: string): Promise<BundledPackage> {
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  const name = typeof pkg.name === 'string' ? pkg.name : dir;
  const spdx = typeof pkg.license === 'string' ? pkg.license
    : typeof pkg.license === 'object' && pkg.license !== null && 'type' in pkg.license && typeof pkg.license.type === 'string'
      ? pkg.license.type : '';
  const license = DEP5_NAMES[spdx];
  if (license === undefined) throw new Error(`${name}: license "${spdx}" is not known to packaging/copyright.ts; check it and add it`);
  const file = (await readdir(dir)).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  if (file === undefined) throw new Error(`${name}: no LICENSE file in ${dir}`);
  const licenseText = (await readFile(join(dir, file), 'utf8')).replace(/\r\n/g, '\n').trim();
  return {
    name, dir, license, licenseText,
    version: typeof pkg.version === 'string' ? pkg.version : '?',
    copyright: copyrightLines(licenseText, personName(pkg.author)),
  };
}

/** A multi-line DEP-5 field value: each line indented by one space, empty lines as ` .`. */
function continuation(text: string): string {
  return text.split('\n').map((l) => (l.trim() === '' ? ' .' : ` ${l.trimEnd().replace(/\t/g, '    ')}`)).join('\n');
}

function licenseBody(p: BundledPackage): string {
  const common = COMMON_LICENSES[p.license];
  if (common !== undefined) {
    return `On Debian systems, the full text of the ${common} can be found in\n/usr/share/common-licenses/${p.license}.`;
  }
  return p.licenseText;
}

/** The whole file: the header (packaging/copyright), the bundled packages, then apt-ostree's own license text. */
export async function copyrightFile(header: string, sourceMaps: readonly string[]): Promise<string> {
  const dirs = [...new Set((await Promise.all(sourceMaps.map(bundledPackageDirs))).flat())].sort();
  const packages = await Promise.all(dirs.map(readBundledPackage));
  const paragraphs = [header.trim()];
  for (const p of packages.sort((a, b) => a.name.localeCompare(b.name))) {
    paragraphs.push([
      `Files: node_modules/${p.name}/*`,
      `Copyright: ${p.copyright.join('\n           ')}`,
      `License: ${p.license}\n${continuation(licenseBody(p))}`,
      `Comment: npm package ${p.name} ${p.version}, bundled into /usr/lib/apt-ostree.`,
    ].join('\n'));
  }
  paragraphs.push(`License: Expat\n${continuation(EXPAT)}`);
  return `${paragraphs.join('\n\n')}\n`;
}
