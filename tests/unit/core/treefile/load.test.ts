import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import type { Treefile } from '../../../../src/core/compose/treefile/index.js';
import { load } from './helpers.js';

test('a minimal treefile gets every default', async () => {
  const { dir, loaded } = await load({ 'treefile.yaml': 'ref: debian/13/x86_64/base\n' });
  const expected: Treefile = {
    ref: 'debian/13/x86_64/base', release: 'trixie', variant: 'minbase', 'bootstrap-mode': 'root',
    repos: [{ uri: 'default', suites: ['trixie', 'trixie-updates'], components: ['main'], trusted: false }],
    packages: [], 'local-debs': [], 'exclude-packages': [], recommends: false, documentation: true, 'add-files': [], 'remove-files': [],
    postprocess: [], units: [], initramfs: 'dracut', 'initramfs-args': [], 'kernel-args': [], users: 'sysusers',
    metadata: {}, 'machineid-compat': true,
  };
  assert.deepEqual(loaded.treefile, expected);
  assert.deepEqual(loaded.files, [join(dir, 'treefile.yaml')]);
  assert.equal(loaded.where(['ref']), `${join(dir, 'treefile.yaml')}:1:6`);
  assert.equal(loaded.where(['release']), undefined, 'defaults were written nowhere');
  assert.equal(loaded.where(['repos', 0]), undefined);
});

test('every key, with host paths made absolute and both add-files forms', async () => {
  const { dir, loaded } = await load({
    'keys/archive.gpg': 'key',
    'files/motd': 'hello',
    'scripts/a.sh': '#!/bin/sh\n',
    'scripts/b.sh': '#!/bin/sh\n',
    'treefile.yaml': `ref: debian/13/arm64/desktop
release: bookworm
architecture: arm64
variant: standard
bootstrap-mode: chrootless
repos:
  - uri: default
  - name: extra
    uri: https://example.org/debian
    suites: [bookworm, bookworm-backports]
    components: [main, contrib]
    signed-by: keys/archive.gpg
    trusted: false
  - uri: file:///srv/repo
    trusted: true
packages: [systemd, "htop=3.2.2-2", linux-image-arm64]
exclude-packages: [nano]
recommends: true
documentation: false
add-files:
  - [files/motd, /etc/motd]
  - { src: scripts/a.sh, dest: /usr/libexec/a, mode: "0755" }
remove-files: [/usr/share/doc/*/changelog.gz]
postprocess:
  - |
    echo inline
postprocess-script: [scripts/a.sh, scripts/b.sh]
units: [ssh.service, fstrim.timer]
default-target: graphical.target
initramfs: packaged
initramfs-args: [--add, ostree]
kernel-args: [quiet, console=ttyS0]
users: image
metadata: { owner: me, build: 3, nightly: true }
automatic-version-prefix: "2026.11"
machineid-compat: false
`,
  });
  const f = join(dir, 'treefile.yaml');
  const tf = loaded.treefile;
  assert.deepEqual(tf.repos, [
    { uri: 'default', suites: ['bookworm', 'bookworm-updates'], components: ['main'], trusted: false },
    { name: 'extra', uri: 'https://example.org/debian', suites: ['bookworm', 'bookworm-backports'], components: ['main', 'contrib'],
      'signed-by': join(dir, 'keys/archive.gpg'), trusted: false },
    { uri: 'file:///srv/repo', suites: ['bookworm'], components: ['main'], trusted: true },
  ]);
  assert.deepEqual(tf['add-files'], [
    { src: join(dir, 'files/motd'), dest: '/etc/motd' },
    { src: join(dir, 'scripts/a.sh'), dest: '/usr/libexec/a', mode: '0755' },
  ]);
  assert.deepEqual(tf.postprocess, [
    { kind: 'inline', text: 'echo inline\n', where: `${f}:25:5` },
    { kind: 'file', path: join(dir, 'scripts/a.sh'), where: `${f}:27:22` },
    { kind: 'file', path: join(dir, 'scripts/b.sh'), where: `${f}:27:36` },
  ]);
  assert.equal(tf.architecture, 'arm64');
  assert.equal(tf.variant, 'standard');
  assert.equal(tf['bootstrap-mode'], 'chrootless');
  assert.deepEqual(tf.packages, ['systemd', 'htop=3.2.2-2', 'linux-image-arm64']);
  assert.equal(tf.recommends, true);
  assert.equal(tf.documentation, false);
  assert.equal(tf['default-target'], 'graphical.target');
  assert.equal(tf.initramfs, 'packaged');
  assert.deepEqual(tf['initramfs-args'], ['--add', 'ostree']);
  assert.equal(tf.users, 'image');
  assert.deepEqual(tf.metadata, { owner: 'me', build: 3, nightly: true });
  assert.equal(tf['automatic-version-prefix'], '2026.11');
  assert.equal(tf['machineid-compat'], false);
  // where() follows the normalized shape: the pair form's src is its first element.
  assert.equal(loaded.where(['add-files', 0, 'src']), `${f}:21:6`);
  assert.equal(loaded.where(['add-files', 0, 'dest']), `${f}:21:18`);
  assert.equal(loaded.where(['add-files', 1, 'mode']), `${f}:22:54`);
  assert.equal(loaded.where(['packages', 1]), `${f}:16:21`);
  assert.equal(loaded.where(['repos', 1, 'signed-by']), `${f}:12:16`);
  assert.equal(loaded.where(['repos', 2, 'suites']), undefined);
  assert.equal(loaded.where(['metadata', 'build']), `${f}:34:31`);
  assert.equal(loaded.where(['postprocess', 2]), tf.postprocess[2]?.where);
  assert.equal(loaded.where(['packages', 9]), undefined);
});

test('a JSON treefile, with positions', async () => {
  const { dir, loaded } = await load({
    'treefile.json': '{\n\t"ref": "debian/13/x86_64/base",\n\t"packages": [\n\t\t"htop",\n\t\t"curl"\n\t]\n}\n',
  }, 'treefile.json');
  assert.deepEqual(loaded.treefile.packages, ['htop', 'curl']);
  assert.equal(loaded.where(['packages', 1]), `${join(dir, 'treefile.json')}:5:3`);
});

test('the suites of a default repository follow the release; development suites have no -updates', async () => {
  const { loaded } = await load({ 'treefile.yaml': 'ref: x\nrelease: sid\nrepos: [{uri: default}, {uri: "http://h/d"}]\n' });
  assert.deepEqual(loaded.treefile.repos.map((r) => r.suites), [['sid'], ['sid']]);
});

test('a JSON treefile may name its schema for editors', async () => {
  const { loaded } = await load({ 'treefile.json': '{"$schema": "../data/treefile.schema.json", "ref": "x"}' }, 'treefile.json');
  assert.equal(loaded.treefile.ref, 'x');
  assert.ok(!('$schema' in loaded.treefile));
});
