import { access, mkdir, readdir, rename, rm, symlink, writeFile, open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { runUnchecked } from '../../lib/exec.js';
import { ostree } from '../ostree/ostree-cli.js';
import { entryField, parseBootEntry, serializeBootEntry } from './boot-entry.js';
import type { Deployment } from './deployment.js';
import { withOstreeLock } from './lock.js';
import type { Sysroot } from './sysroot.js';
import { readFile } from 'node:fs/promises';

/**
 * Makes `target` the default deployment, keeping every deployment and the order of the others. Newer ostree has
 * `ostree admin set-default`; ostree 2022.7 (bookworm) has no command for it, so we write the next boot version
 * the way libostree does: new entries and boot symlinks beside the live ones, then one atomic rename of
 * /boot/loader. Only Boot Loader Specification setups are written this way; a generated grub.cfg is not ours to
 * regenerate.
 */
export async function setDefaultDeployment(sysroot: Sysroot, target: Deployment): Promise<void> {
  if (await ostreeHasSetDefault()) {
    await ostree(['admin', 'set-default', `--sysroot=${sysroot.path}`, String(target.index)]);
    return;
  }
  await refuseGeneratedBootloaderConfig(sysroot.path);
  const order = [target, ...sysroot.deployments.filter((d) => d !== target && !d.staged)];
  await withOstreeLock(sysroot.path, () => writeBootVersion(sysroot, order));
}

let setDefaultSupport: Promise<boolean> | undefined;
function ostreeHasSetDefault(): Promise<boolean> {
  setDefaultSupport ??= runUnchecked(['ostree', 'admin', 'set-default', '--help']).then((r) => r.code === 0 && /set-default/.test(r.stdout));
  return setDefaultSupport;
}

async function refuseGeneratedBootloaderConfig(sysrootPath: string): Promise<void> {
  for (const file of ['boot/grub/grub.cfg', 'boot/grub2/grub.cfg', 'boot/syslinux/syslinux.cfg', 'boot/uEnv.txt']) {
    try {
      await access(join(sysrootPath, file));
    } catch {
      continue;
    }
    throw new AptOstreeError('bootloader-unsupported', `this ostree can not reorder deployments with /${file} present`,
      'upgrade ostree to 2023.8 or later (it has `ostree admin set-default`), or use a BLS bootloader');
  }
}

async function writeBootVersion(sysroot: Sysroot, order: Deployment[]): Promise<void> {
  const oldVersion = sysroot.bootversion;
  const newVersion = 1 - oldVersion;
  const root = sysroot.path;
  const newEntries = join(root, `boot/loader.${newVersion}/entries`);
  const newBootDir = join(root, `ostree/boot.${newVersion}.0`);
  await removeBootVersion(root, newVersion);

  const serials = new Map<string, number>();
  const entryNames = new Set<string>();
  await mkdir(newEntries, { recursive: true });
  for (const [i, d] of order.entries()) {
    if (d.bootEntryFile === undefined) throw new AptOstreeError('internal', `deployment ${d.checksum} has no boot entry`);
    const key = `${d.osname}/${d.bootcsum}`;
    const bootserial = serials.get(key) ?? 0;
    serials.set(key, bootserial + 1);
    const linkDir = join(newBootDir, d.osname, d.bootcsum);
    await mkdir(linkDir, { recursive: true });
    await symlink(`../../../deploy/${d.osname}/deploy/${d.checksum}.${d.serial}`, join(linkDir, String(bootserial)));

    const entry = parseBootEntry(d.bootEntryFile, await readFile(d.bootEntryFile, 'utf8'));
    const version = order.length - i;
    entry.fields = entry.fields.map(([k, v]): [string, string] => {
      if (k === 'version') return [k, String(version)];
      if (k === 'title') return [k, v.replace(/\(ostree:\d+\)/, `(ostree:${i})`)];
      if (k === 'options') {
        return [k, v.replace(/ostree=\S+/, `ostree=/ostree/boot.${newVersion}/${d.osname}/${d.bootcsum}/${bootserial}`)];
      }
      return [k, v];
    });
    if (entryField(entry, 'version') === undefined) entry.fields.push(['version', String(version)]);
    const name = /^ostree-\d+-/.test(basename(d.bootEntryFile)) ? `ostree-${version}-${d.osname}.conf` : `ostree-${version}.conf`;
    entryNames.add(name);
    await writeSynced(join(newEntries, name), serializeBootEntry(entry));
  }
  await symlink(`boot.${newVersion}.0`, join(root, `ostree/boot.${newVersion}`));

  // Protect the deployments' commits from pruning under the new boot version before switching to it.
  for (const [i, d] of order.entries()) {
    await ostree(['refs', `--repo=${sysroot.repoPath}`, '--force', `--create=ostree/${newVersion}/0/${i}`, d.checksum]);
  }
  await syncfs(join(root, 'boot'));
  const tmpLink = join(root, 'boot/loader.tmp');
  await rm(tmpLink, { force: true });
  await symlink(`loader.${newVersion}`, tmpLink);
  await rename(tmpLink, join(root, 'boot/loader'));
  await syncfs(join(root, 'boot'));

  await removeBootVersion(root, oldVersion);
  const stale = (await ostree(['refs', `--repo=${sysroot.repoPath}`, `ostree/${oldVersion}`]).catch(() => ({ stdout: '' }))).stdout
    .split('\n').map((s) => s.trim()).filter((s) => s !== '');
  for (const ref of stale) {
    await ostree(['refs', `--repo=${sysroot.repoPath}`, '--delete', ref.startsWith('ostree/') ? ref : `ostree/${oldVersion}/${ref}`]);
  }
}

async function removeBootVersion(root: string, version: number): Promise<void> {
  await rm(join(root, `boot/loader.${version}`), { recursive: true, force: true });
  await rm(join(root, `ostree/boot.${version}`), { force: true });
  for (const name of await readdir(join(root, 'ostree'))) {
    if (name.startsWith(`boot.${version}.`)) await rm(join(root, 'ostree', name), { recursive: true, force: true });
  }
}

async function writeSynced(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text);
  const fh = await open(tmp, 'r');
  await fh.sync();
  await fh.close();
  await rename(tmp, path);
}

async function syncfs(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
