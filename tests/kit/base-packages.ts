/**
 * The packages installed into the kit's base commits. Together they make a tiny but honest Debian system: an
 * os-release, users and groups, /bin/sh (dash) and busybox utilities, the host's dpkg and useradd with their
 * libraries (so dpkg can run inside bubblewrap with the tree as `/`), a kernel with an initramfs, and some packages
 * with /var content. None has maintainer scripts: they are installed with `dpkg --root` from the host.
 */
import { HostFileCollector, sharedLibrariesOf } from './host-files.js';
import type { DebFile, DebSpec } from './deb.js';
import type { HostInfo } from './host-info.js';

export const KERNEL_VERSION = '6.12.0-kit';

/**
 * Applets a maintainer script or dpkg itself needs (dpkg checks for sh, rm, tar, diff, start-stop-daemon and
 * ldconfig on its PATH). Busybox-static in Debian has no adduser: kit-passwd ships the host's useradd instead.
 * `sh` is deliberately not among them: Debian's busybox-static is built as a "standalone shell" whose ash runs its
 * own applets before anything on PATH, so `dpkg --compare-versions` in a postinst would reach busybox's dpkg
 * applet. /bin/sh is dash (kit-dash), as on Debian. `tar` is GNU tar (kit-tar): dpkg-deb passes it options
 * busybox's tar lacks.
 */
const BUSYBOX_BIN_APPLETS = [
  'ash', '[', 'test', 'true', 'false', 'echo', 'printf', 'cat', 'cp', 'mv', 'rm', 'ln', 'ls', 'mkdir', 'rmdir',
  'chmod', 'chown', 'chgrp', 'touch', 'readlink', 'realpath', 'dirname', 'basename', 'grep', 'egrep', 'fgrep', 'sed',
  'awk', 'find', 'xargs', 'sort', 'uniq', 'head', 'tail', 'cut', 'tr', 'wc', 'env', 'id', 'stat', 'sleep', 'mktemp',
  'date', 'diff', 'cmp', 'gzip', 'gunzip', 'zcat', 'uname', 'hostname', 'which', 'expr', 'seq', 'tee', 'sync',
  'md5sum', 'sha256sum', 'kill', 'ps', 'more', 'od', 'mknod', 'mkfifo', 'getopt', 'timeout', 'yes',
];
const BUSYBOX_SBIN_APPLETS = ['start-stop-daemon', 'nologin', 'chroot'];

export const BASE_USERS = {
  passwd: [
    'root:x:0:0:root:/root:/bin/sh',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'bin:x:2:2:bin:/bin:/usr/sbin/nologin',
    'sys:x:3:3:sys:/dev:/usr/sbin/nologin',
    'sync:x:4:65534:sync:/bin:/bin/sync',
    'man:x:6:12:man:/var/cache/man:/usr/sbin/nologin',
    'mail:x:8:8:mail:/var/mail:/usr/sbin/nologin',
    'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
    '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  ],
  group: [
    'root:x:0:', 'daemon:x:1:', 'bin:x:2:', 'sys:x:3:', 'adm:x:4:', 'tty:x:5:', 'disk:x:6:', 'mail:x:8:',
    'man:x:12:', 'www-data:x:33:', 'shadow:x:42:', 'utmp:x:43:', 'users:x:100:', 'systemd-journal:x:999:',
    'nogroup:x:65534:',
  ],
};

function lines(entries: readonly string[]): string {
  return `${entries.join('\n')}\n`;
}

function shadowOf(passwd: readonly string[]): string {
  return lines(passwd.map((l) => `${l.split(':')[0] ?? ''}:${l.startsWith('root:') ? '*' : '!'}:19700:0:99999:7:::`));
}

function gshadowOf(group: readonly string[]): string {
  return lines(group.map((l) => `${l.split(':')[0] ?? ''}:*::`));
}

const OS_RELEASE = lines([
  'PRETTY_NAME="Debian GNU/Linux 13 (kit)"',
  'NAME="Debian GNU/Linux"',
  'VERSION_ID="13"',
  'VERSION="13 (kit)"',
  'VERSION_CODENAME=kit',
  'ID=debian',
  'HOME_URL="https://www.debian.org/"',
]);

/** Only what useradd needs to pick system uids/gids and a default shell. */
const LOGIN_DEFS = lines([
  'MAIL_DIR /var/mail', 'UMASK 022', 'UID_MIN 1000', 'UID_MAX 60000', 'SYS_UID_MIN 100', 'SYS_UID_MAX 999',
  'GID_MIN 1000', 'GID_MAX 60000', 'SYS_GID_MIN 100', 'SYS_GID_MAX 999', 'USERGROUPS_ENAB yes',
  'ENCRYPT_METHOD SHA512', 'NONEXISTENT /nonexistent',
]);

function dir(path: string, mode = 0o755): DebFile {
  return { path, directory: true, mode };
}

export function kitBaseFiles(version: string): DebSpec {
  return {
    name: 'kit-base-files',
    version,
    architecture: 'all',
    essential: true,
    priority: 'required',
    section: 'admin',
    description: 'kit base system files (os-release, users, filesystem skeleton)',
    files: [
      // merged-/usr, as mmdebstrap sets it up for Debian 12 and later
      { path: '/bin', symlink: 'usr/bin' },
      { path: '/sbin', symlink: 'usr/sbin' },
      { path: '/lib', symlink: 'usr/lib' },
      { path: '/lib64', symlink: 'usr/lib64' },
      ...['/usr/bin', '/usr/sbin', '/usr/lib', '/usr/lib64', '/usr/share', '/usr/local/bin', '/usr/local/lib',
        '/usr/local/share', '/usr/local/sbin', '/home', '/opt', '/srv', '/mnt', '/media', '/run', '/dev', '/proc',
        '/sys', '/boot', '/var/lib', '/var/cache', '/var/log', '/var/spool', '/var/backups', '/var/local',
        '/var/opt'].map((p) => dir(p)),
      dir('/root', 0o700),
      dir('/tmp', 0o1777),
      dir('/var/tmp', 0o1777),
      dir('/var/mail', 0o2775),
      { path: '/var/run', symlink: '/run' },
      { path: '/var/lock', symlink: '/run/lock' },
      { path: '/usr/lib/os-release', content: OS_RELEASE },
      { path: '/etc/os-release', symlink: '../usr/lib/os-release' },
      { path: '/etc/debian_version', content: '13.1\n' },
      { path: '/etc/hostname', content: 'kit\n' },
      { path: '/etc/passwd', content: lines(BASE_USERS.passwd) },
      { path: '/etc/group', content: lines(BASE_USERS.group) },
      { path: '/etc/shadow', content: shadowOf(BASE_USERS.passwd), mode: 0o640 },
      { path: '/etc/gshadow', content: gshadowOf(BASE_USERS.group), mode: 0o640 },
      { path: '/etc/nsswitch.conf', content: lines(['passwd: files', 'group: files', 'shadow: files', 'gshadow: files']) },
      { path: '/etc/login.defs', content: LOGIN_DEFS },
      { path: '/etc/shells', content: lines(['# /etc/shells: valid login shells', '/bin/sh', '/usr/bin/sh']) },
      { path: '/root/.profile', content: '# ~/.profile: executed by the login shell\nexport PATH=/usr/sbin:/usr/bin\n' },
    ],
  };
}

export function kitBusybox(): DebSpec {
  return {
    name: 'kit-busybox',
    version: '1:1.36.1-kit1',
    architecture: 'native',
    essential: true,
    priority: 'required',
    section: 'shells',
    description: 'busybox providing the utilities maintainer scripts use',
    files: [
      { path: '/usr/bin/busybox', fromHost: '/bin/busybox', mode: 0o755 },
      ...BUSYBOX_BIN_APPLETS.map((a): DebFile => ({ path: `/usr/bin/${a}`, symlink: 'busybox' })),
      ...BUSYBOX_SBIN_APPLETS.map((a): DebFile => ({ path: `/usr/sbin/${a}`, symlink: '../bin/busybox' })),
    ],
  };
}

export async function kitDash(): Promise<DebSpec> {
  return {
    name: 'kit-dash',
    version: '0.5.12-kit1',
    architecture: 'native',
    essential: true,
    priority: 'required',
    section: 'shells',
    description: 'the host\'s dash as /bin/sh',
    depends: 'kit-libc',
    files: [...(await hostPackageFiles([SHELL_PROGRAM])), { path: '/usr/bin/sh', symlink: 'dash' }],
  };
}

export async function kitTar(): Promise<DebSpec> {
  return {
    name: 'kit-tar',
    version: '1.34+dfsg-kit1',
    architecture: 'native',
    essential: true,
    priority: 'required',
    section: 'utils',
    description: 'the host\'s GNU tar, which dpkg-deb runs to extract control members',
    depends: 'kit-libc',
    files: await hostPackageFiles([TAR_PROGRAM]),
  };
}

/** Host programs of kit-dpkg and kit-passwd, at their Debian 12 paths. */
export const DPKG_PROGRAMS = [
  '/usr/bin/dpkg', '/usr/bin/dpkg-deb', '/usr/bin/dpkg-query', '/usr/bin/dpkg-divert', '/usr/bin/dpkg-trigger',
  '/usr/bin/dpkg-statoverride', '/usr/bin/dpkg-split', '/usr/bin/dpkg-maintscript-helper', '/usr/bin/dpkg-realpath',
  '/usr/bin/update-alternatives',
];
export const PASSWD_PROGRAMS = ['/usr/sbin/useradd', '/usr/sbin/groupadd', '/usr/sbin/usermod', '/usr/sbin/userdel',
  '/usr/sbin/groupdel'];
export const LIBC_PROGRAMS = ['/usr/sbin/ldconfig', '/usr/bin/getent'];
export const SHELL_PROGRAM = '/usr/bin/dash';
export const TAR_PROGRAM = '/usr/bin/tar';

async function hostPackageFiles(programs: readonly string[]): Promise<DebFile[]> {
  const collector = new HostFileCollector();
  for (const program of programs) await collector.add(program);
  return collector.files();
}

export async function kitLibc(host: HostInfo): Promise<DebSpec> {
  const collector = new HostFileCollector();
  for (const lib of await sharedLibrariesOf([...DPKG_PROGRAMS, ...PASSWD_PROGRAMS, ...LIBC_PROGRAMS, SHELL_PROGRAM,
    TAR_PROGRAM])) {
    await collector.add(lib);
  }
  for (const program of LIBC_PROGRAMS) await collector.add(program);
  return {
    name: 'kit-libc',
    version: '2.36-kit1',
    architecture: 'native',
    priority: 'required',
    section: 'libs',
    description: 'the host\'s C library and the shared libraries of the kit\'s programs',
    files: [
      ...collector.files(),
      { path: '/etc/ld.so.conf', content: 'include /etc/ld.so.conf.d/*.conf\n' },
      { path: `/etc/ld.so.conf.d/${host.triplet}.conf`, content: `/usr/local/lib/${host.triplet}\n/usr/lib/${host.triplet}\n` },
    ],
  };
}

export async function kitDpkg(): Promise<DebSpec> {
  return {
    name: 'kit-dpkg',
    version: '1.21.22-kit1',
    architecture: 'native',
    essential: true,
    priority: 'required',
    section: 'admin',
    description: 'the host\'s dpkg tools and update-alternatives',
    depends: 'kit-libc, kit-busybox, kit-tar',
    files: [
      ...(await hostPackageFiles(DPKG_PROGRAMS)),
      dir('/etc/alternatives'),
      dir('/etc/dpkg/dpkg.cfg.d'),
      dir('/var/lib/dpkg/alternatives'),
    ],
  };
}

export async function kitPasswd(): Promise<DebSpec> {
  return {
    name: 'kit-passwd',
    version: '1:4.13+dfsg1-kit1',
    architecture: 'native',
    priority: 'required',
    section: 'admin',
    description: 'the host\'s useradd and groupadd, for postinsts that create system users',
    depends: 'kit-libc',
    files: [...(await hostPackageFiles(PASSWD_PROGRAMS)), { path: '/etc/default/useradd', content: 'SHELL=/bin/sh\n' }],
  };
}

export function kitLinuxImage(): DebSpec {
  const k = KERNEL_VERSION;
  return {
    name: 'kit-linux-image',
    version: `${k}-1`,
    architecture: 'native',
    priority: 'optional',
    section: 'kernel',
    description: 'dummy kernel and initramfs: enough for ostree to deploy, not to boot',
    files: [
      { path: `/boot/vmlinuz-${k}`, content: `kit dummy kernel ${k}\n` },
      { path: `/boot/initrd.img-${k}`, content: `kit dummy initramfs ${k}\n` },
      { path: `/boot/config-${k}`, content: 'CONFIG_KIT=y\n' },
      { path: `/boot/System.map-${k}`, content: '0000000000000000 T kit_start\n' },
      { path: `/usr/lib/modules/${k}/modules.dep`, content: 'kernel/drivers/kit/kit.ko:\n' },
      { path: `/usr/lib/modules/${k}/kernel/drivers/kit/kit.ko`, content: 'kit dummy module\n' },
    ],
  };
}

export function kitLibfoo1(version: '1.0-1' | '1.1-1', host: HostInfo): DebSpec {
  return {
    name: 'kit-libfoo1',
    version,
    architecture: 'native',
    section: 'libs',
    description: 'dummy library whose version changes between the base commits v1 and v2',
    files: [
      { path: `/usr/lib/${host.triplet}/libfoo.so.1`, content: `libfoo ${version}\n` },
      { path: '/usr/share/doc/kit-libfoo1/version', content: `${version}\n` },
    ],
  };
}

export function kitSystemdDummy(): DebSpec {
  return {
    name: 'kit-systemd-dummy',
    version: '257-kit1',
    architecture: 'all',
    section: 'admin',
    description: 'the directories systemd owns, and tmpfiles.d lines like systemd\'s var.conf',
    files: [
      dir('/usr/lib/systemd/system'),
      dir('/usr/lib/systemd/system/multi-user.target.wants'),
      dir('/usr/lib/sysusers.d'),
      dir('/etc/systemd/system'),
      dir('/etc/systemd/system/multi-user.target.wants'),
      { path: '/usr/lib/tmpfiles.d/kit-var.conf', content: lines([
        '# like systemd\'s var.conf: these /var paths are declared here, not by apt-ostree',
        'q /var 0755 - - -',
        'L /var/run - - - - ../run',
        'd /var/log 0755 - - -',
        'd /var/cache 0755 - - -',
        'd /var/lib 0755 - - -',
        'd /var/spool 0755 - - -',
      ]) },
    ],
  };
}

export function kitFillerA(): DebSpec {
  return {
    name: 'kit-filler-a',
    version: '1.0-1',
    architecture: 'all',
    description: 'filler with state under /var (a file, a private directory, a log directory)',
    files: [
      { path: '/usr/share/kit-filler-a/README', content: 'kit-filler-a\n' },
      dir('/var/lib/kit-filler-a', 0o750),
      { path: '/var/lib/kit-filler-a/state', content: 'initial state\n', mode: 0o640 },
      { path: '/var/cache/kit-filler-a/index.cache', content: 'cached\n' },
      dir('/var/log/kit-filler-a'),
    ],
  };
}

export function kitFillerB(): DebSpec {
  return {
    name: 'kit-filler-b',
    version: '2.0-1',
    architecture: 'all',
    description: 'filler with a program (a layered package conflicts with it)',
    files: [
      { path: '/usr/bin/kit-filler-b', content: '#!/bin/sh\necho kit-filler-b 2.0\n', mode: 0o755 },
      { path: '/usr/share/doc/kit-filler-b/copyright', content: 'public domain\n' },
    ],
  };
}

export function kitExtraTools(): DebSpec {
  return {
    name: 'kit-extra-tools',
    version: '1.0-1',
    architecture: 'all',
    description: 'added to the base in v2',
    files: [{ path: '/usr/bin/kit-extra-tool', content: '#!/bin/sh\necho kit-extra-tool 1.0\n', mode: 0o755 }],
  };
}

export function kitAltTools(): DebSpec {
  return {
    name: 'kit-alt-tools',
    version: '1.0-1',
    architecture: 'all',
    description: 'only in the kit-alt base (rebase target)',
    files: [
      { path: '/usr/bin/kit-alt-tool', content: '#!/bin/sh\necho kit-alt-tool 1.0\n', mode: 0o755 },
      { path: '/usr/share/kit-alt/marker', content: 'kit-alt\n' },
    ],
  };
}
