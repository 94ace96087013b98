/**
 * Kernel arguments an image asks for, in bootc's convention: `/usr/lib/bootc/kargs.d/*.toml`, each with
 * `kargs = ["…", …]` and optionally `match-architectures = ["x86_64", …]`, read in file name order. `compose` writes
 * one from the treefile's `kernel-args`; a package may ship another.
 *
 * When a deployment moves to a new image, its arguments follow the image's change as bootc does: what the old image
 * asked for and the new one does not is removed, what the new one adds is appended, and the machine's own arguments
 * (`kargs --append`) stay.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../lib/errors.js';
import { validateKarg } from './kargs.js';
import { ostree, ostreeUnchecked } from './ostree/ostree-cli.js';

export const KARGS_D = 'usr/lib/bootc/kargs.d';

/** bootc matches `match-architectures` against Rust's names for the CPU. */
const RUST_ARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64', arm64: 'aarch64', ia32: 'x86', arm: 'arm', ppc64: 'powerpc64', s390x: 's390x', riscv64: 'riscv64',
  loong64: 'loongarch64',
};

export function hostRustArch(): string {
  return RUST_ARCH[process.arch] ?? process.arch;
}

/**
 * The arguments of one kargs.d file: its `kargs` array, or none when `match-architectures` leaves `arch` out. Only
 * the two keys bootc reads are understood; strings are TOML basic ("…") or literal ('…') strings.
 */
export function parseKargsFile(text: string, name: string, arch = hostRustArch()): string[] {
  const kargs = tomlStringArray(text, 'kargs', name) ?? [];
  const arches = tomlStringArray(text, 'match-architectures', name);
  if (arches !== undefined && !arches.includes(arch)) return [];
  for (const k of kargs) {
    try {
      validateKarg(k);
    } catch (err) {
      throw new AptOstreeError('invalid-karg', `${name}: ${err instanceof Error ? err.message : String(err)}`,
        'the image (or a package) ships a kernel argument apt-ostree can not put on a boot entry; nothing was changed');
    }
  }
  return kargs;
}

function tomlStringArray(text: string, key: string, name: string): string[] | undefined {
  const withoutComments = text.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n');
  const start = new RegExp(`^\\s*${key.replace(/-/g, '\\-')}\\s*=\\s*\\[`, 'm').exec(withoutComments);
  if (start === null) return undefined;
  const items: string[] = [];
  const item = /\s*(?:"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)')\s*(,|\])|\s*(\])/gy;
  item.lastIndex = start.index + start[0].length;
  for (;;) {
    const m = item.exec(withoutComments);
    if (m === null) {
      throw new AptOstreeError('parse-error', `${name}: '${key}' is not an array of strings`,
        `write it as ${key} = ["a", "b"]`);
    }
    if (m[4] === ']') return items;
    items.push(m[1] !== undefined ? JSON.parse(`"${m[1]}"`) as string : m[2] ?? '');
    if (m[3] === ']') return items;
  }
}

/** The image arguments of a checked-out tree (a deployment's directory). */
export async function imageKargsOfTree(tree: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(join(tree, KARGS_D))).filter((n) => n.endsWith('.toml')).sort();
  } catch {
    return [];
  }
  const kargs: string[] = [];
  for (const n of names) kargs.push(...parseKargsFile(await readFile(join(tree, KARGS_D, n), 'utf8'), `/${KARGS_D}/${n}`));
  return kargs;
}

/** The image arguments of a commit in `repo`. */
export async function imageKargsOfCommit(repo: string, commit: string): Promise<string[]> {
  const listing = await ostreeUnchecked(['ls', `--repo=${repo}`, '--nul-filenames-only', commit, `/${KARGS_D}`]);
  if (listing.code !== 0) {
    if (/No such file|not found/i.test(listing.stderr)) return [];
    throw new AptOstreeError('command-failed', `ostree ls ${commit.slice(0, 12)} /${KARGS_D}: ${oneLine(listing.stderr)}`,
      'check the repository with `ostree fsck`');
  }
  const names = listing.stdout.split('\0').filter((p) => p.endsWith('.toml')).sort();
  const kargs: string[] = [];
  for (const path of names) {
    const text = (await ostree(['cat', `--repo=${repo}`, commit, path])).stdout;
    kargs.push(...parseKargsFile(text, path));
  }
  return kargs;
}

/** The deployment's arguments after its image went from asking for `before` to asking for `after`. */
export function followImageKargs(current: readonly string[], before: readonly string[], after: readonly string[]): string[] {
  const dropped = new Set(before.filter((k) => !after.includes(k)));
  const kept = current.filter((k) => !dropped.has(k));
  return [...kept, ...after.filter((k) => !before.includes(k) && !kept.includes(k))];
}

export function sameKargs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}
