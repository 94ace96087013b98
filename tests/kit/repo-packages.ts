/**
 * Packages of the kit's apt repository that are not in any base commit: each one exercises one thing package
 * layering must get right. Maintainer scripts only use what the base commits provide (busybox applets, useradd,
 * update-alternatives), since they run inside the tree.
 */
import type { DebSpec } from './deb.js';
import type { HostInfo } from './host-info.js';

function script(body: string): string {
  return `#!/bin/sh\nset -e\n${body.trim()}\nexit 0\n`;
}

function program(name: string, version: string): string {
  return `#!/bin/sh\necho ${name} ${version}\n`;
}

export function layerablePackages(host: HostInfo): DebSpec[] {
  const libdir = `/usr/lib/${host.triplet}`;
  return [
    // A dependency chain: installing kit-app must pull kit-libbar1, which pulls kit-libbaz1.
    {
      name: 'kit-libbaz1', version: '1.0-1', architecture: 'native', section: 'libs',
      description: 'end of the kit-app dependency chain',
      files: [{ path: `${libdir}/libbaz.so.1`, content: 'libbaz 1.0\n' }],
    },
    {
      name: 'kit-libbar1', version: '1.0-1', architecture: 'native', section: 'libs',
      description: 'middle of the kit-app dependency chain', depends: 'kit-libbaz1 (>= 1.0)',
      files: [{ path: `${libdir}/libbar.so.1`, content: 'libbar 1.0\n' }],
    },
    {
      name: 'kit-app', version: '1.0-1', architecture: 'native',
      description: 'an application with a dependency chain', depends: 'kit-libbar1, kit-libfoo1 (>= 1.0)',
      files: [{ path: '/usr/bin/kit-app', content: program('kit-app', '1.0'), mode: 0o755 }],
    },
    // A virtual package: kit-mailer needs "some MTA", kit-mta provides it.
    {
      name: 'kit-mta', version: '1.0-1', architecture: 'all', section: 'mail',
      description: 'provides the virtual package kit-virtual-mta', provides: 'kit-virtual-mta',
      files: [{ path: '/usr/sbin/kit-sendmail', content: program('kit-sendmail', '1.0'), mode: 0o755 }],
    },
    {
      name: 'kit-mailer', version: '1.0-1', architecture: 'all', section: 'mail',
      description: 'depends on the virtual package kit-virtual-mta', depends: 'kit-virtual-mta',
      files: [{ path: '/usr/bin/kit-mailer', content: program('kit-mailer', '1.0'), mode: 0o755 }],
    },
    // Pre-Depends: kit-libbaz1 must be configured before kit-predep's preinst runs (the preinst checks).
    {
      name: 'kit-predep', version: '1.0-1', architecture: 'all',
      description: 'Pre-Depends on kit-libbaz1', preDepends: 'kit-libbaz1',
      files: [{ path: '/usr/bin/kit-predep', content: program('kit-predep', '1.0'), mode: 0o755 }],
      scripts: { preinst: script(`test -e ${libdir}/libbaz.so.1`) },
    },
    // A conffile: dpkg records its md5sum; the /etc 3-way merge and --force-confold meet here.
    {
      name: 'kit-conffile', version: '1.0-1', architecture: 'all',
      description: 'ships a conffile under /etc',
      files: [{ path: '/etc/kit-conffile.conf', content: '# kit-conffile\nsetting=default\n' }],
    },
    // A daemon: a system user and group made by the postinst, a state directory they own, a systemd unit.
    {
      name: 'kit-daemon', version: '1.0-1', architecture: 'all', section: 'admin',
      description: 'adds a system user and group in its postinst and ships a systemd unit',
      depends: 'kit-passwd',
      files: [
        { path: '/usr/sbin/kit-daemon', content: program('kit-daemon', '1.0'), mode: 0o755 },
        { path: '/usr/lib/systemd/system/kit-daemon.service', content: [
          '[Unit]', 'Description=kit test daemon', '', '[Service]', 'ExecStart=/usr/sbin/kit-daemon', 'User=kitd', '',
          '[Install]', 'WantedBy=multi-user.target', ''].join('\n') },
      ],
      scripts: {
        postinst: script(`
if [ "$1" = configure ]; then
  grep -q '^kitd:' /etc/group || groupadd --system kitd
  grep -q '^kitd:' /etc/passwd || useradd --system --gid kitd --home-dir /var/lib/kit-daemon --no-create-home \\
    --shell /usr/sbin/nologin --comment 'kit daemon' kitd
  mkdir -p /var/lib/kit-daemon
  chown kitd:kitd /var/lib/kit-daemon
  chmod 0750 /var/lib/kit-daemon
fi`),
      },
    },
    // update-alternatives: /usr/bin/kit-editor → /etc/alternatives/kit-editor → the real program.
    {
      name: 'kit-alternatives', version: '1.0-1', architecture: 'all', section: 'editors',
      description: 'registers /usr/bin/kit-editor with update-alternatives',
      files: [{ path: '/usr/lib/kit-alternatives/kit-editor-real', content: program('kit-editor', '1.0'), mode: 0o755 }],
      scripts: {
        postinst: script(`
if [ "$1" = configure ]; then
  update-alternatives --install /usr/bin/kit-editor kit-editor /usr/lib/kit-alternatives/kit-editor-real 50
fi`),
        prerm: script(`
if [ "$1" = remove ] || [ "$1" = deconfigure ]; then
  update-alternatives --remove kit-editor /usr/lib/kit-alternatives/kit-editor-real
fi`),
      },
    },
    // /opt is a symlink into /var on ostree systems (rpm-ostree #233).
    {
      name: 'kit-opt', version: '1.0-1', architecture: 'all',
      description: 'ships files under /opt',
      files: [
        { path: '/opt/kit-opt/bin/kit-opt-tool', content: program('kit-opt-tool', '1.0'), mode: 0o755 },
        { path: '/opt/kit-opt/share/data.txt', content: 'kit-opt data\n' },
      ],
    },
    {
      name: 'kit-conflicts', version: '1.0-1', architecture: 'all',
      description: 'Conflicts with the base package kit-filler-b', conflicts: 'kit-filler-b',
      files: [{ path: '/usr/bin/kit-conflicts', content: program('kit-conflicts', '1.0'), mode: 0o755 }],
    },
    // Base/archive skew: needs a newer version of a base package than v1 has.
    {
      name: 'kit-skew', version: '1.0-1', architecture: 'all',
      description: 'Depends on kit-libfoo1 (>= 1.1-1), newer than the one in base v1', depends: 'kit-libfoo1 (>= 1.1-1)',
      files: [{ path: '/usr/bin/kit-skew', content: program('kit-skew', '1.0'), mode: 0o755 }],
    },
    {
      name: 'kit-failing', version: '1.0-1', architecture: 'all',
      description: 'its postinst fails (exit 1)',
      files: [{ path: '/usr/share/kit-failing/README', content: 'this package can not be configured\n' }],
      scripts: { postinst: '#!/bin/sh\necho "kit-failing: postinst fails on purpose" >&2\nexit 1\n' },
    },
  ];
}
