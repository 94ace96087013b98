/**
 * Builds small but real .deb files with `dpkg-deb --build --root-owner-group` from a declarative description:
 * the control file, maintainer scripts and conffiles are written the way debhelper would.
 */
import { chmod, copyFile, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../src/lib/exec.js';

export type DebFile =
  | { path: string; content: string | Buffer; mode?: number }
  | { path: string; fromHost: string; mode?: number }
  | { path: string; symlink: string }
  | { path: string; directory: true; mode?: number };

export interface DebSpec {
  name: string;
  version: string;
  /** 'native' is the host's dpkg architecture. */
  architecture: 'all' | 'native';
  description: string;
  section?: string;
  priority?: 'required' | 'important' | 'standard' | 'optional';
  essential?: boolean;
  depends?: string;
  preDepends?: string;
  provides?: string;
  conflicts?: string;
  breaks?: string;
  replaces?: string;
  files?: readonly DebFile[];
  scripts?: Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm', string>>;
}

export interface BuiltDeb {
  name: string;
  version: string;
  architecture: string;
  path: string;
}

/** Files under /etc are conffiles, as dh_installdeb marks them. */
function conffilesOf(spec: DebSpec): string[] {
  return (spec.files ?? [])
    .filter((f) => f.path.startsWith('/etc/') && !('symlink' in f) && !('directory' in f))
    .map((f) => f.path);
}

export async function buildDeb(spec: DebSpec, workDir: string, outDir: string, hostArch: string): Promise<BuiltDeb> {
  const architecture = spec.architecture === 'native' ? hostArch : 'all';
  const stage = join(workDir, `${spec.name}_${spec.version}`);
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'DEBIAN'), { recursive: true });
  let installedBytes = 0;
  for (const file of spec.files ?? []) installedBytes += await writeDebFile(stage, file);

  const control = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    `Architecture: ${architecture}`,
    'Maintainer: apt-ostree test kit <kit@apt-ostree.invalid>',
    `Installed-Size: ${Math.max(1, Math.ceil(installedBytes / 1024))}`,
    spec.essential ? 'Essential: yes' : null,
    spec.preDepends ? `Pre-Depends: ${spec.preDepends}` : null,
    spec.depends ? `Depends: ${spec.depends}` : null,
    spec.provides ? `Provides: ${spec.provides}` : null,
    spec.conflicts ? `Conflicts: ${spec.conflicts}` : null,
    spec.breaks ? `Breaks: ${spec.breaks}` : null,
    spec.replaces ? `Replaces: ${spec.replaces}` : null,
    `Section: ${spec.section ?? 'misc'}`,
    `Priority: ${spec.priority ?? 'optional'}`,
    `Description: ${spec.description}`,
    ' Part of the apt-ostree test kit: a real package with synthetic content.',
    '',
  ].filter((l): l is string => l !== null).join('\n');
  await writeFile(join(stage, 'DEBIAN/control'), control);
  const conffiles = conffilesOf(spec);
  if (conffiles.length > 0) await writeFile(join(stage, 'DEBIAN/conffiles'), `${conffiles.join('\n')}\n`);
  for (const [script, body] of Object.entries(spec.scripts ?? {})) {
    await writeFile(join(stage, 'DEBIAN', script), body, { mode: 0o755 });
  }

  await mkdir(outDir, { recursive: true });
  // Debian's file names leave the epoch out (1:2.0-1 → name_2.0-1_arch.deb).
  const path = join(outDir, `${spec.name}_${spec.version.replace(/^\d+:/, '')}_${architecture}.deb`);
  // gzip instead of the default xz: the kit is rebuilt whenever its sources change, so build speed matters.
  await run(['dpkg-deb', '--root-owner-group', '-Zgzip', '-z1', '--build', stage, path]);
  await rm(stage, { recursive: true, force: true });
  return { name: spec.name, version: spec.version, architecture, path };
}

/** Writes one entry into the package's staging tree; returns its size for Installed-Size. */
async function writeDebFile(stage: string, file: DebFile): Promise<number> {
  const target = join(stage, file.path);
  await mkdir(dirname(target), { recursive: true });
  if ('symlink' in file) {
    await symlink(file.symlink, target);
    return 0;
  }
  if ('directory' in file) {
    await mkdir(target, { recursive: true });
    // chmod, not mkdir's mode: the umask would strip the sticky and group bits
    await chmod(target, file.mode ?? 0o755);
    return 0;
  }
  if ('fromHost' in file) await copyFile(file.fromHost, target);
  else await writeFile(target, file.content);
  await chmod(target, file.mode ?? 0o644);
  return (await stat(target)).size;
}
