/**
 * Checks a tree (an image root before commit, or a checkout of a commit) against the base image contract, one
 * file at a time, and lists every violation instead of stopping at the first: an image builder fixes them all in
 * one go. An empty list means the tree follows the contract.
 */
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  abs,
  APT_CONF_SNIPPET,
  APT_EXTENDED_STATES,
  AUTOVAR_TMPFILES,
  DEFAULT_PACKAGE_STATE_PATHS,
  DPKG_DATABASE,
  EMPTY_MOUNT_POINTS,
  FACTORY_ROOT,
  MACHINE_SECRET_GLOBS,
  PACKAGE_STATE_ROOT,
  TOPLEVEL_LINKS,
} from './contract-paths.js';
import { MODULES_DIR } from './kernel.js';
import { packageStateLocation } from './package-state.js';
import { parseTmpfilesDeclarations, readDeclaredTmpfilesPaths, type DeclaredPath } from './tmpfiles.js';
import { expandGlob, isErrno, lstatOrNull, readdirOrEmpty } from './tree-fs.js';

export type ContractRule =
  | 'kernel'
  | 'initramfs'
  | 'boot'
  | 'etc'
  | 'machine-identity'
  | 'dpkg-database'
  | 'apt-state'
  | 'apt-config'
  | 'package-state'
  | 'toplevel'
  | 'mount-points'
  | 'var'
  | 'factory'
  | 'os-release';

export interface ContractViolation {
  rule: ContractRule;
  /** Absolute path in the tree the violation is about. */
  path: string;
  message: string;
}

export interface ContractCheckOptions {
  packageStatePaths?: readonly string[];
}

export async function checkBaseImageContract(root: string, opts: ContractCheckOptions = {}): Promise<ContractViolation[]> {
  const violations: ContractViolation[] = [];
  const add = (rule: ContractRule, path: string, message: string): void => {
    violations.push({ rule, path, message });
  };
  const declared = await readDeclaredTmpfilesPaths(root);
  await checkKernel(root, add);
  await checkEtc(root, add);
  await checkPackageDatabase(root, declared, add);
  await checkPackageState(root, declared, opts.packageStatePaths ?? DEFAULT_PACKAGE_STATE_PATHS, add);
  await checkLayout(root, declared, add);
  await checkVar(root, add);
  if (!(await lstatOrNull(join(root, 'usr/lib/os-release')))) {
    add('os-release', '/usr/lib/os-release', 'missing: ostree names boot entries after it and tools read it');
  }
  return violations;
}

/** A one-line-per-violation rendering for error messages and test failures. */
export function formatViolations(violations: readonly ContractViolation[]): string {
  return violations.map((v) => `${v.rule}: ${v.path}: ${v.message}`).join('\n');
}

type Add = (rule: ContractRule, path: string, message: string) => void;

async function checkKernel(root: string, add: Add): Promise<void> {
  const versions: string[] = [];
  for (const name of await readdirOrEmpty(join(root, MODULES_DIR))) {
    if (await lstatOrNull(join(root, MODULES_DIR, name, 'vmlinuz'))) versions.push(name);
  }
  if (versions.length === 0) add('kernel', abs(MODULES_DIR), 'no <kver>/vmlinuz: ostree would find no kernel');
  if (versions.length > 1) add('kernel', abs(MODULES_DIR), `several kernels (${versions.join(', ')}): keep one`);
  for (const version of versions) {
    if (!(await lstatOrNull(join(root, MODULES_DIR, version, 'initramfs.img')))) {
      add('initramfs', abs(`${MODULES_DIR}/${version}/initramfs.img`), 'missing: the deployment would not boot');
    }
  }
  const boot = await lstatOrNull(join(root, 'boot'));
  if (!boot?.isDirectory()) add('boot', '/boot', 'missing: it is the mount point of the sysroot\'s /boot');
  else {
    const left = await readdirOrEmpty(join(root, 'boot'));
    if (left.length > 0) add('boot', '/boot', `not empty (${left.join(', ')}): ostree owns /boot`);
  }
}

async function checkEtc(root: string, add: Add): Promise<void> {
  if (await lstatOrNull(join(root, 'etc'))) add('etc', '/etc', 'present: the configuration belongs in /usr/etc');
  if (!(await lstatOrNull(join(root, 'usr/etc')))?.isDirectory()) add('etc', '/usr/etc', 'missing');
  // Absent is allowed too (a treefile with machineid-compat: false): systemd then treats the boot as the first one.
  const machineId = await lstatOrNull(join(root, 'usr/etc/machine-id'));
  if (machineId && !machineId.isFile()) add('machine-identity', '/usr/etc/machine-id', 'must be an empty file or absent');
  else if (machineId && machineId.size > 0) add('machine-identity', '/usr/etc/machine-id', 'not empty: every machine would share it');
  for (const pattern of MACHINE_SECRET_GLOBS) {
    for (const rel of await expandGlob(root, pattern)) add('machine-identity', abs(rel), 'host secret baked into the image');
  }
}

async function checkPackageDatabase(root: string, declared: readonly DeclaredPath[], add: Add): Promise<void> {
  const db = join(root, DPKG_DATABASE);
  if (!(await lstatOrNull(join(db, 'status')))?.isFile()) add('dpkg-database', abs(`${DPKG_DATABASE}/status`), 'missing');
  for (const name of ['lock', 'lock-frontend', 'triggers/Lock']) {
    if (await lstatOrNull(join(db, name))) add('dpkg-database', abs(`${DPKG_DATABASE}/${name}`), 'lock file in the image');
  }
  for (const name of await readdirOrEmpty(db)) {
    if (name.endsWith('-old')) add('dpkg-database', abs(`${DPKG_DATABASE}/${name}`), 'backup file in the image');
  }
  const pending = await readdirOrEmpty(join(db, 'updates'));
  if (pending.length > 0) add('dpkg-database', abs(`${DPKG_DATABASE}/updates`), 'pending journal: an interrupted dpkg run');
  if (!hasSymlinkDeclaration(declared, '/var/lib/dpkg', abs(DPKG_DATABASE))) {
    add('dpkg-database', '/var/lib/dpkg', `no tmpfiles.d line "L /var/lib/dpkg - - - - ${abs(DPKG_DATABASE)}"`);
  }
  if (!(await lstatOrNull(join(root, APT_EXTENDED_STATES)))?.isFile()) add('apt-state', abs(APT_EXTENDED_STATES), 'missing');
  let snippet: string;
  try {
    snippet = await readFile(join(root, APT_CONF_SNIPPET), 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    add('apt-config', abs(APT_CONF_SNIPPET), 'missing');
    return;
  }
  const required = [
    `Dir::State::status "${abs(DPKG_DATABASE)}/status";`,
    `Dir::State::extended_states "${abs(APT_EXTENDED_STATES)}";`,
    `DPkg::Options:: "--admindir=${abs(DPKG_DATABASE)}";`,
  ];
  const lines = snippet.split('\n').map((l) => l.trim());
  for (const line of required) {
    if (!lines.includes(line)) add('apt-config', abs(APT_CONF_SNIPPET), `lacks ${line}`);
  }
}

async function checkPackageState(root: string, declared: readonly DeclaredPath[], patterns: readonly string[],
  add: Add): Promise<void> {
  for (const pattern of patterns) {
    for (const rel of await expandGlob(join(root, PACKAGE_STATE_ROOT), pattern)) {
      if (!hasSymlinkDeclaration(declared, abs(rel), abs(packageStateLocation(rel)))) {
        add('package-state', abs(rel), `no tmpfiles.d symlink to ${abs(packageStateLocation(rel))}`);
      }
    }
  }
}

async function checkLayout(root: string, declared: readonly DeclaredPath[], add: Add): Promise<void> {
  for (const link of TOPLEVEL_LINKS) {
    const st = await lstatOrNull(join(root, link.path));
    const target = st?.isSymbolicLink() ? await readlink(join(root, link.path)) : null;
    if (target !== link.target) add('toplevel', abs(link.path), `must be a symlink to ${link.target}`);
    const dir = link.dir;
    if (dir && !declared.some((d) => d.type === 'd' && d.path === abs(dir.path))) {
      add('toplevel', abs(dir.path), `no tmpfiles.d line creates it (${abs(link.path)} points there)`);
    }
  }
  for (const dir of EMPTY_MOUNT_POINTS) {
    const st = await lstatOrNull(join(root, dir));
    if (!st?.isDirectory()) add('mount-points', abs(dir), 'must be a directory');
    else if ((await readdirOrEmpty(join(root, dir))).length > 0) add('mount-points', abs(dir), 'must be empty');
  }
}

async function checkVar(root: string, add: Add): Promise<void> {
  const st = await lstatOrNull(join(root, 'var'));
  if (!st?.isDirectory()) add('var', '/var', 'must be a directory');
  else {
    const left = await readdirOrEmpty(join(root, 'var'));
    if (left.length > 0) add('var', '/var', `not empty (${left.join(', ')}): its content must become tmpfiles.d lines`);
  }
  let text: string;
  try {
    text = await readFile(join(root, AUTOVAR_TMPFILES), 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    add('var', abs(AUTOVAR_TMPFILES), 'missing: the image\'s /var was not converted');
    return;
  }
  for (const d of parseTmpfilesDeclarations(text, AUTOVAR_TMPFILES)) {
    if (d.type !== 'C' || d.argument !== undefined) continue;
    if (!(await lstatOrNull(join(root, FACTORY_ROOT, d.path)))) {
      add('factory', abs(`${FACTORY_ROOT}${d.path}`), `missing: the C line for ${d.path} has nothing to copy`);
    }
  }
}

function hasSymlinkDeclaration(declared: readonly DeclaredPath[], path: string, target: string): boolean {
  return declared.some((d) => d.type === 'L' && d.path === path && d.argument === target);
}
