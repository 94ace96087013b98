/**
 * A synthetic Debian-like root written directly with fs calls (no dpkg): small, and with the awkward cases the
 * base image contract must handle that the kit's real packages do not produce (bootloader files in /boot, a
 * second tmpfiles.d file, odd file names, logs and locks in /var, host keys).
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const SYNTHETIC_KERNEL = '6.1.0-synthetic';

export interface SyntheticRootOptions {
  kernel?: boolean;
  initramfs?: boolean;
  /** A second kernel in /boot. */
  extraKernel?: string;
}

export async function writeSyntheticRoot(root: string, opts: SyntheticRootOptions = {}): Promise<void> {
  const k = SYNTHETIC_KERNEL;
  const files: Record<string, string> = {
    'usr/lib/os-release': 'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="synthetic"\n',
    'usr/lib/tmpfiles.d/other.conf': 'd /var/spool 0755 - - -\nL /var/declared-link - - - - /run/declared\n',
    [`usr/lib/modules/${k}/modules.dep`]: '',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
    'etc/ssh/ssh_host_rsa_key': 'secret\n',
    'etc/ssh/ssh_host_rsa_key.pub': 'public\n',
    'etc/ssh/sshd_config': 'PermitRootLogin no\n',
    'boot/grub/grub.cfg': 'menuentry\n',
    'var/lib/dpkg/status': 'Package: synthetic\nStatus: install ok installed\nVersion: 1\n\n',
    'var/lib/dpkg/status-old': '',
    'var/lib/dpkg/lock': '',
    'var/lib/dpkg/lock-frontend': '',
    'var/lib/dpkg/triggers/Lock': '',
    'var/lib/dpkg/info/synthetic.list': '/.\n',
    'var/lib/apt/extended_states': 'Package: synthetic\nAuto-Installed: 1\n\n',
    'var/lib/apt/lists/deb.debian.org_dists_trixie_InRelease': 'list\n',
    'var/cache/apt/pkgcache.bin': 'cache\n',
    'var/cache/debconf/config.dat': 'Name: q\n\n',
    'var/cache/debconf/config.dat-old': '',
    'var/cache/debconf/passwords.dat': 'Name: secret\n\n',
    'var/lib/ucf/hashfile': 'abc /etc/x\n',
    'var/lib/systemd/deb-systemd-helper-enabled/foo.service.dsh-also': '',
    'var/lib/systemd/random-seed': 'seed\n',
    'var/log/installer.log': 'log\n',
    'var/tmp/junk': 'junk\n',
    'var/lib/foo/data': 'foo data\n',
    'var/lib/foo/with space%and\\backslash': 'odd name\n',
    'var/declared-link/child': 'under a declared symlink\n',
    'home/user/.bashrc': 'bashrc\n',
    'root/.profile': 'profile\n',
    'opt/vendor/bin/tool': 'tool\n',
    'usr/local/bin/local-tool': 'local\n',
    'srv/www/index.html': 'index\n',
    'media/cdrom/README': 'cd\n',
    'tmp/leftover': 'tmp\n',
    'run/leftover': 'run\n',
  };
  if (opts.kernel !== false) {
    files[`boot/vmlinuz-${k}`] = 'kernel\n';
    files[`boot/config-${k}`] = 'CONFIG_X=y\n';
    if (opts.initramfs !== false) files[`boot/initrd.img-${k}`] = 'initramfs\n';
  }
  if (opts.extraKernel !== undefined) files[`boot/vmlinuz-${opts.extraKernel}`] = 'another kernel\n';
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), content);
  }
  for (const dir of ['dev', 'proc', 'sys', 'mnt', 'var/spool/cron', 'var/lib/empty']) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await symlink('/run/lock', join(root, 'var/lock'));
  await symlink('/etc/machine-id', join(root, 'var/lib/dbus-machine-id-link'));
  if (opts.kernel !== false) await symlink(`boot/vmlinuz-${k}`, join(root, 'vmlinuz'));
}
