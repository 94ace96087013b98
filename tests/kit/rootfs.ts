/**
 * A plain Debian root filesystem from .debs, the way mmdebstrap makes one but without its download step: the host's
 * dpkg installs into the directory with `--root`, so the dpkg database is real.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../src/lib/exec.js';

export async function installRootfs(root: string, debPaths: readonly string[]): Promise<void> {
  const admindir = join(root, 'var/lib/dpkg');
  for (const sub of ['info', 'updates', 'triggers']) await mkdir(join(admindir, sub), { recursive: true });
  await writeFile(join(admindir, 'status'), '');
  await writeFile(join(admindir, 'available'), '');
  await dpkgInRoot(root, ['--install', ...debPaths]);
  await leaveMaintainerScriptTraces(root);
}

/** Another root made from `from` by changing packages, the way an upgraded system differs from the old one. */
export async function deriveRootfs(from: string, root: string, change: { purge: readonly string[]; install: readonly string[] }): Promise<void> {
  await run(['cp', '-a', from, root]);
  if (change.purge.length > 0) await dpkgInRoot(root, ['--purge', ...change.purge]);
  if (change.install.length > 0) await dpkgInRoot(root, ['--install', ...change.install]);
}

/**
 * The host's dpkg on a root directory. The kit's base packages have no maintainer scripts, so nothing runs
 * chrooted; --log keeps the host's /var/log/dpkg.log out of it.
 */
async function dpkgInRoot(root: string, args: readonly string[]): Promise<void> {
  await run(['dpkg', `--root=${root}`, `--admindir=${join(root, 'var/lib/dpkg')}`, '--log=/dev/null', '--force-unsafe-io',
    ...args], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/**
 * What real postinsts and apt leave behind in a Debian root, which the kit's script-less packages would not:
 * debconf's database, deb-systemd-helper records, /etc/shells bookkeeping, pam-auth-update's choices, apt's
 * auto-installed marks, a machine-id and an SSH host key. The base image contract must move or remove each, and
 * the kit's commits prove it does.
 */
async function leaveMaintainerScriptTraces(root: string): Promise<void> {
  const files: Record<string, string> = {
    'var/lib/apt/extended_states': 'Package: kit-libc\nArchitecture: amd64\nAuto-Installed: 1\n\n',
    'var/cache/debconf/config.dat': 'Name: kit-base-files/question\nTemplate: kit-base-files/question\nValue: yes\nOwners: kit-base-files\n\n',
    'var/cache/debconf/templates.dat': 'Name: kit-base-files/question\nDefault: yes\nDescription: kit question\nType: boolean\n\n',
    'var/cache/debconf/config.dat-old': '',
    'var/cache/debconf/passwords.dat': '',
    'var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/kit-example.service': '',
    'var/lib/systemd/deb-systemd-helper-enabled/kit-example.service.dsh-also': '/etc/systemd/system/multi-user.target.wants/kit-example.service\n',
    'var/lib/shells.state': '/bin/sh\n/usr/bin/sh\n',
    'var/lib/pam/seen': 'unix\n',
    'var/lib/systemd/random-seed': 'not so random\n',
    'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
    'etc/ssh/ssh_host_ed25519_key': 'kit dummy private key\n',
    'etc/ssh/ssh_host_ed25519_key.pub': 'ssh-ed25519 AAAAkit kit\n',
  };
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), content, { mode: rel.includes('ssh_host_') && !rel.endsWith('.pub') ? 0o600 : 0o644 });
  }
}
