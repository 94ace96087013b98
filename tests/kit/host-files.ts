/**
 * Takes programs from the host into kit packages: the binary itself and the shared libraries `ldd` reports, with
 * their symlink chains, at merged-/usr paths. That is enough for dpkg and useradd to run inside bubblewrap with a
 * kit tree as `/`, without downloading anything.
 */
import { lstat, readlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { runUnchecked } from '../../src/lib/exec.js';
import type { DebFile } from './deb.js';

/** /lib/x → /usr/lib/x etc.: the kit's trees are merged-/usr (the toplevel dirs are symlinks into /usr). */
export function usrMergedPath(hostPath: string): string {
  return /^\/(bin|sbin|lib|lib32|lib64|libx32)\//.test(hostPath) ? `/usr${hostPath}` : hostPath;
}

/** Collects a host path as package entries: symlinks stay symlinks (and their targets are collected too). */
export class HostFileCollector {
  private readonly entries = new Map<string, DebFile>();

  async add(hostPath: string, asPath: string = usrMergedPath(hostPath)): Promise<void> {
    if (this.entries.has(asPath)) return;
    const st = await lstat(hostPath);
    if (st.isSymbolicLink()) {
      const target = await readlink(hostPath);
      this.entries.set(asPath, { path: asPath, symlink: target });
      await this.add(isAbsolute(target) ? target : join(dirname(hostPath), target));
      return;
    }
    this.entries.set(asPath, { path: asPath, fromHost: hostPath, mode: st.mode & 0o7777 });
  }

  files(): DebFile[] {
    return [...this.entries.values()].sort((a, b) => a.path.localeCompare(b.path));
  }
}

/** The shared libraries (and the dynamic loader) the given host programs need, per `ldd`. */
export async function sharedLibrariesOf(programs: readonly string[]): Promise<string[]> {
  const libs = new Set<string>();
  const outputs = await Promise.all(programs.map((program) => runUnchecked(['ldd', program])));
  for (const { code, stdout } of outputs) {
    if (code !== 0) continue; // "not a dynamic executable": static programs need nothing
    for (const line of stdout.split('\n')) {
      const match = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (match?.[1]) libs.add(match[1]);
    }
  }
  return [...libs].sort();
}
