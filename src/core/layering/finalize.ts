/**
 * After dpkg: brings the work tree back to the base image contract (docs/base-image-contract.md) before it is
 * committed. dpkg and the scripts ran against a live-looking tree (a populated /var, a /etc mount point, a
 * policy-rc.d); the commit must have none of that, no machine identity, a clean dpkg database and /var described
 * by tmpfiles.d lines only.
 *
 * The tree's /var holds absolute symlinks (/var/lib/dpkg → /usr/share/dpkg/database, the package state links).
 * Followed from the host they would lead into the host's /usr, so nothing here walks through /var by path: state
 * is addressed at its place in the tree's /usr, and /var is only lstat'ed, renamed and unlinked.
 */
import { chmod, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { abs, CONTRACT_TMPFILES, DEFAULT_PACKAGE_STATE_PATHS } from '../compose/contract-paths.js';
import { removeMachineIdentity } from '../compose/etc.js';
import { moveDpkgDatabaseIntoUsr } from '../compose/package-database.js';
import { packageStateLocation } from '../compose/package-state.js';
import { formatTmpfilesLine, parseTmpfilesDeclarations } from '../compose/tmpfiles.js';
import {
  emptyDirectory,
  expandGlob,
  isErrno,
  lstatOrNull,
  moveMerging,
  readdirOrEmpty,
  unlinkIfPresent,
  writeFileByRename,
} from '../compose/tree-fs.js';
import { convertVarToTmpfiles, type VarTmpfilesReport } from '../compose/var-tmpfiles.js';
import { moveLayeredOptIntoUsr } from './opt.js';
import { removeSandboxLeftovers } from './sandbox.js';

export interface FinalizeOptions {
  /** Names in /var/opt before dpkg ran (listVarOpt): only what dpkg added moves to /usr/lib/opt. */
  optBefore: readonly string[];
  /** Whether the base had an (empty) machine-id or none; default empty. */
  machineId?: 'empty' | 'absent';
}

export interface FinalizeReport {
  /** Names found in /boot and removed (ostree owns /boot; a layered kernel is not booted). */
  removedFromBoot: string[];
  removedSecrets: string[];
  /** Directories moved from /opt to /usr/lib/opt. */
  opt: string[];
  /** /var paths whose package state moved into /usr in this run (new state a layered package started). */
  newPackageState: string[];
  var: VarTmpfilesReport;
  warnings: string[];
}

/** Files that only mean something while a tool runs. */
const TRANSIENT_ETC_FILES = ['usr/etc/.pwd.lock'];

export async function finalizeTree(tree: string, opts: FinalizeOptions): Promise<FinalizeReport> {
  const warnings: string[] = [];
  await removeSandboxLeftovers(tree);
  if (await lstatOrNull(join(tree, 'etc'))) {
    throw new AptOstreeError('invalid-rootfs', 'a maintainer script created files in /etc outside /usr/etc',
      'this is a bug in apt-ostree\'s sandbox; please report it with the package list');
  }

  const removedFromBoot = await clearBoot(tree, warnings);
  const removedSecrets = await removeMachineIdentity(tree, opts.machineId);
  if (removedSecrets.length > 0) warnings.push(`removed machine secrets a script generated: ${removedSecrets.join(', ')}`);
  await generateHostKeysOnAnyBoot(tree);
  for (const rel of TRANSIENT_ETC_FILES) await unlinkIfPresent(join(tree, rel));

  // Checks that /var/lib/dpkg is still the link into /usr and drops locks and *-old backups.
  await moveDpkgDatabaseIntoUsr(tree);
  const opt = await moveLayeredOptIntoUsr(tree, opts.optBefore);
  const newPackageState = await keepPackageStateInUsr(tree);

  const varReport = await convertVarToTmpfiles(tree);
  if (varReport.unsupported.length > 0) warnings.push(`dropped special files from /var: ${varReport.unsupported.join(', ')}`);
  await emptyDirectory(join(tree, 'run'));
  await emptyDirectory(join(tree, 'tmp'));
  // Directories are never shared with the repository, so changing their mode is safe in a hardlinked checkout.
  await chmod(join(tree, 'tmp'), 0o1777);
  return { removedFromBoot, removedSecrets, opt, newPackageState, var: varReport, warnings };
}

/** Debian's unit that makes the SSH host keys (openssh-server, trixie on), and apt-ostree's drop-in for it. */
const SSHD_KEYGEN_UNIT = 'usr/lib/systemd/system/sshd-keygen.service';
const SSHD_KEYGEN_DROPIN = 'usr/lib/systemd/system/sshd-keygen.service.d/50-apt-ostree-host-keys.conf';
const HOST_KEY_TYPES = ['ecdsa', 'ed25519', 'rsa'];

/**
 * openssh-server's postinst makes host keys, which removeMachineIdentity takes out of the commit; the package's
 * sshd-keygen.service would make them at boot, but only on the machine's first boot (ConditionFirstBoot=yes: an
 * /etc/machine-id that is missing or `uninitialized`). A machine that layers openssh-server has booted before, so
 * a drop-in lets the unit run on any boot that lacks a key, with the unit's other conditions kept.
 */
export async function generateHostKeysOnAnyBoot(tree: string): Promise<void> {
  let unit: string;
  try {
    unit = await readFile(join(tree, SSHD_KEYGEN_UNIT), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  const conditions = unit.split('\n').map((l) => l.trim()).filter((l) => /^Condition[A-Za-z]+\s*=/.test(l));
  if (!conditions.some((l) => /^ConditionFirstBoot\s*=\s*(yes|true|on|1)$/i.test(l))) return;
  await writeFileByRename(join(tree, SSHD_KEYGEN_DROPIN), [
    '# Written by apt-ostree: the host keys are not in the commit (they are per machine) and a new deployment is',
    '# rarely the first boot of its machine: generate them on any boot that lacks one (ssh-keygen -A makes only',
    '# the missing ones). The empty assignment resets the unit\'s conditions; its others follow again.',
    '[Unit]',
    'ConditionFirstBoot=',
    ...conditions.filter((l) => !/^ConditionFirstBoot\s*=/i.test(l)),
    ...HOST_KEY_TYPES.map((t) => `ConditionPathExists=|!/etc/ssh/ssh_host_${t}_key`),
    '',
  ].join('\n'));
}

/**
 * The base's /boot is empty (its kernel is in /usr/lib/modules). Whatever a layered package put there (a kernel
 * package, an initramfs hook) is not used by ostree; the deployment keeps booting the base's kernel.
 */
async function clearBoot(tree: string, warnings: string[]): Promise<string[]> {
  const names = await readdirOrEmpty(join(tree, 'boot'));
  if (names.length === 0) return [];
  const kernels = names.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length));
  warnings.push(kernels.length > 0
    ? `a layered package installed kernel ${kernels.join(', ')} into /boot: layered kernels are not booted, the `
      + 'deployment keeps the base\'s kernel (removed from the commit)'
    : `layered packages wrote into /boot (${names.join(', ')}): ostree owns /boot, removed from the commit`);
  for (const link of ['vmlinuz', 'vmlinuz.old', 'initrd.img', 'initrd.img.old']) {
    if ((await lstatOrNull(join(tree, link)))?.isSymbolicLink()) await unlinkIfPresent(join(tree, link));
  }
  return emptyDirectory(join(tree, 'boot'));
}

/**
 * Package state (debconf, ucf, deb-systemd-helper, …) must live in /usr next to the dpkg database. State the base
 * already had is reached through its tmpfiles.d links, so the scripts wrote into /usr directly; state that a
 * layered package started (a real directory in /var now) moves to /usr and gets its link line, like the compose
 * transform does. Then debconf's passwords and the tools' *-old backups are dropped from the state in /usr.
 */
async function keepPackageStateInUsr(tree: string): Promise<string[]> {
  const moved: string[] = [];
  for (const pattern of DEFAULT_PACKAGE_STATE_PATHS) {
    if (await hasSymlinkAncestor(tree, pattern)) continue;
    for (const rel of await expandGlob(tree, pattern)) {
      const st = await lstatOrNull(join(tree, rel));
      if (!st || st.isSymbolicLink()) continue;
      await moveMerging(join(tree, rel), join(tree, packageStateLocation(rel)));
      moved.push(`/${rel}`);
    }
  }
  for (const pattern of DEFAULT_PACKAGE_STATE_PATHS) {
    for (const rel of await expandGlob(tree, packageStateLocation(pattern))) await dropSecretsAndBackups(join(tree, rel));
  }
  if (moved.length > 0) await declareStateLinks(tree, moved);
  return moved;
}

/** Whether a directory on the way to `rel` is a symlink (then it leads out of the tree, or is declared state). */
async function hasSymlinkAncestor(tree: string, rel: string): Promise<boolean> {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    if ((await lstatOrNull(join(tree, ...parts.slice(0, i))))?.isSymbolicLink()) return true;
  }
  return false;
}

async function dropSecretsAndBackups(path: string): Promise<void> {
  if (!(await lstatOrNull(path))?.isDirectory()) return;
  for (const name of await readdir(path)) {
    if (name.endsWith('-old') || name === 'passwords.dat') await rm(join(path, name), { recursive: true, force: true });
  }
}

/** Adds `L /var/x - - - - /usr/share/apt-ostree/state/var/x` lines for new state to the contract's tmpfiles.d file. */
async function declareStateLinks(tree: string, varPaths: readonly string[]): Promise<void> {
  const path = join(tree, CONTRACT_TMPFILES);
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const declared = new Set(parseTmpfilesDeclarations(text, CONTRACT_TMPFILES).map((d) => d.path));
  const added = varPaths.filter((p) => !declared.has(p)).map((p) =>
    formatTmpfilesLine({ type: 'L', path: p, argument: abs(packageStateLocation(p.slice(1))) }));
  if (added.length === 0) return;
  await writeFileByRename(path, `${text === '' || text.endsWith('\n') ? text : `${text}\n`}${added.join('\n')}\n`);
}
