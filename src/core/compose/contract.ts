/**
 * The base image transform: a plain Debian root filesystem (as dpkg, mmdebstrap or debootstrap leave it) becomes a
 * tree that follows the base image contract (docs/base-image-contract.md) and can be committed with
 * `ostree commit --bootable`. Preconditions are checked before anything changes; the steps are idempotent, so the
 * transform can run again on a tree that already follows the contract (e.g. after package layering).
 */
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import {
  abs,
  CONTRACT_TMPFILES,
  DEFAULT_PACKAGE_STATE_PATHS,
  DPKG_DATABASE,
  TOPLEVEL_LINKS,
} from './contract-paths.js';
import { moveEtcToUsrEtc, removeMachineIdentity } from './etc.js';
import { moveKernelIntoModules, requireSingleKernel } from './kernel.js';
import { moveAptExtendedStatesIntoUsr, moveDpkgDatabaseIntoUsr, writeAptConfSnippet } from './package-database.js';
import { movePackageStateIntoUsr, packageStateLocation } from './package-state.js';
import { formatTmpfilesLine } from './tmpfiles.js';
import { applyToplevelLayout } from './toplevel.js';
import { lstatOrNull, writeFileByRename } from './tree-fs.js';
import { convertVarToTmpfiles, type VarTmpfilesReport } from './var-tmpfiles.js';

export interface ContractOptions {
  /** Package state moved from /var into /usr (tree-relative, `*` allowed in the last component). */
  packageStatePaths?: readonly string[];
  /** What /usr/etc/machine-id holds: empty (default) or no file at all (see removeMachineIdentity). */
  machineId?: 'empty' | 'absent';
  /** Called once per step, for progress output. */
  onStep?: (step: string) => void;
}

export interface ContractReport {
  kernelVersion: string;
  /** 'missing' when the image has no initramfs: it was not invented here; such an image will not boot. */
  initramfs: 'present' | 'missing';
  /** Names removed from /boot after the kernel moved out (bootloader files and the like). */
  removedFromBoot: string[];
  /** Machine identity and secrets removed (absolute paths). */
  removedSecrets: string[];
  /** /var paths whose state now lives in /usr and is linked back by tmpfiles.d. */
  packageState: string[];
  var: VarTmpfilesReport;
  /** Things an image builder should look at; the tree follows the contract regardless. */
  warnings: string[];
}

export async function applyBaseImageContract(root: string, opts: ContractOptions = {}): Promise<ContractReport> {
  const step = opts.onStep ?? (() => undefined);
  await preflight(root);
  const warnings: string[] = [];

  step('kernel and initramfs into /usr/lib/modules');
  const kernel = await moveKernelIntoModules(root);
  if (!kernel.initramfs) {
    warnings.push(`no initramfs for kernel ${kernel.version}: build one (dracut --no-hostonly with ostree's module) `
      + 'and put it at /boot/initrd.img-<kver> before applying the contract');
  }
  if (kernel.removedFromBoot.length > 0) warnings.push(`removed from /boot: ${kernel.removedFromBoot.join(', ')}`);

  step('/etc into /usr/etc');
  await moveEtcToUsrEtc(root);
  const removedSecrets = await removeMachineIdentity(root, opts.machineId);

  step('dpkg database and apt state into /usr');
  await moveDpkgDatabaseIntoUsr(root);
  await moveAptExtendedStatesIntoUsr(root);
  await writeAptConfSnippet(root);
  const state = await movePackageStateIntoUsr(root, opts.packageStatePaths ?? DEFAULT_PACKAGE_STATE_PATHS);
  await writeContractTmpfiles(root, state.linked);

  step('toplevel layout');
  await applyToplevelLayout(root);

  step('/var into tmpfiles.d');
  const varReport = await convertVarToTmpfiles(root);
  if (varReport.unsupported.length > 0) warnings.push(`dropped special files: ${varReport.unsupported.join(', ')}`);

  return {
    kernelVersion: kernel.version,
    initramfs: kernel.initramfs ? 'present' : 'missing',
    removedFromBoot: kernel.removedFromBoot,
    removedSecrets,
    packageState: state.linked,
    var: varReport,
    warnings,
  };
}

/** The contract's own tmpfiles.d lines: /var paths that are symlinks to state in /usr. */
function contractTmpfilesText(linkedState: readonly string[]): string {
  const lines = [
    '# apt-ostree base image contract. The writable places behind the toplevel symlinks:',
    ...TOPLEVEL_LINKS.flatMap((link) => (link.dir
      ? [formatTmpfilesLine({ type: 'd', path: abs(link.dir.path), mode: link.dir.mode, user: '0', group: '0' })]
      : [])),
    '# Package state lives in /usr (one copy per deployment, read-only); /var only points to it:',
    formatTmpfilesLine({ type: 'L', path: '/var/lib/dpkg', argument: abs(DPKG_DATABASE) }),
    ...linkedState.map((varPath) =>
      formatTmpfilesLine({ type: 'L', path: varPath, argument: abs(packageStateLocation(varPath.slice(1))) })),
    '',
  ];
  return lines.join('\n');
}

async function writeContractTmpfiles(root: string, linkedState: readonly string[]): Promise<void> {
  await writeFileByRename(join(root, CONTRACT_TMPFILES), contractTmpfilesText(linkedState));
}

/** Everything that would make the transform fail halfway is checked first, so a refused root stays untouched. */
async function preflight(root: string): Promise<void> {
  const st = await lstatOrNull(root);
  if (!st?.isDirectory()) {
    throw new AptOstreeError('invalid-rootfs', `${root} is not a directory`, 'pass the root directory of an image');
  }
  if (!(await lstatOrNull(join(root, 'usr')))?.isDirectory()) {
    throw new AptOstreeError('invalid-rootfs', `${root} has no /usr directory`, 'is this the root of a Debian installation?');
  }
  await requireSingleKernel(root);
  const hasEtc = (await lstatOrNull(join(root, 'etc')))?.isDirectory() === true
    || (await lstatOrNull(join(root, 'usr/etc')))?.isDirectory() === true;
  if (!hasEtc) {
    throw new AptOstreeError('invalid-rootfs', `${root} has no /etc`, 'is this the root of a Debian installation?');
  }
  const hasDatabase = (await lstatOrNull(join(root, 'var/lib/dpkg/status')))?.isFile() === true
    || (await lstatOrNull(join(root, DPKG_DATABASE, 'status')))?.isFile() === true;
  if (!hasDatabase) {
    throw new AptOstreeError('no-package-database', `${root} has no dpkg database (/var/lib/dpkg/status)`,
      'build the image root with dpkg (mmdebstrap, debootstrap): apt-ostree needs to know what is installed');
  }
}
