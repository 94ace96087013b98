import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { symlink } from 'node:fs/promises';
import { loadTreefile } from '../../../../src/core/compose/treefile/index.js';
import { AptOstreeError } from '../../../../src/lib/errors.js';
import { failure, load, tree } from './helpers.js';

test('includes merge depth-first: the includer wins scalars, lists are included-first without duplicates', async () => {
  const { dir, loaded } = await load({
    'base/common.yaml': [
      'release: bookworm', 'variant: minbase', 'packages: [systemd, dbus]', 'units: [ssh.service]',
      'metadata: {owner: base, tier: 1}', 'postprocess: ["echo common"]', 'add-files: [[files/motd, /etc/motd]]',
      'kernel-args: [quiet]', 'initramfs-args: [--add, ostree]', '',
    ].join('\n'),
    'base/files/motd': 'hi',
    'extra.yaml': 'include: base/common.yaml\nvariant: standard\npackages: [vim, dbus]\nrepos: [{uri: "http://h/d"}]\n',
    'treefile.yaml': [
      'include: [base/common.yaml, extra.yaml]', 'ref: debian/13/x86_64/desktop', 'packages: [htop, systemd]',
      'metadata: {owner: me}', 'postprocess: ["echo top"]', 'kernel-args: [quiet, splash]', 'initramfs-args: [--add, ostree]', '',
    ].join('\n'),
  });
  const tf = loaded.treefile;
  const top = join(dir, 'treefile.yaml');
  const common = join(dir, 'base/common.yaml');
  const extra = join(dir, 'extra.yaml');
  assert.deepEqual(loaded.files, [top, common, extra]);
  assert.equal(tf.ref, 'debian/13/x86_64/desktop');
  assert.equal(tf.release, 'bookworm');
  assert.equal(tf.variant, 'standard', 'a later include overrides an earlier one');
  assert.deepEqual(tf.packages, ['systemd', 'dbus', 'vim', 'htop']);
  assert.deepEqual(tf.units, ['ssh.service']);
  assert.deepEqual(tf.metadata, { owner: 'me', tier: 1 });
  assert.deepEqual(tf['kernel-args'], ['quiet', 'splash']);
  assert.deepEqual(tf['initramfs-args'], ['--add', 'ostree', '--add', 'ostree'], 'dracut arguments keep their repeats');
  assert.deepEqual(tf['add-files'], [{ src: join(dir, 'base/files/motd'), dest: '/etc/motd' }], 'src is relative to the file declaring it');
  assert.deepEqual(tf.postprocess.map((s) => s.kind === 'inline' ? s.text : s.path), ['echo common', 'echo top']);
  assert.deepEqual(tf.repos.map((r) => r.uri), ['http://h/d']);
  // Each merged item remembers where it was written.
  assert.equal(loaded.where(['packages', 0]), `${common}:3:12`);
  assert.equal(loaded.where(['packages', 2]), `${extra}:3:12`);
  assert.equal(loaded.where(['packages', 3]), `${top}:3:12`);
  assert.equal(loaded.where(['variant']), `${extra}:2:10`);
  assert.equal(loaded.where(['metadata', 'tier']), `${common}:5:31`);
  assert.equal(loaded.where(['metadata', 'owner']), `${top}:4:19`);
  assert.equal(loaded.where(['add-files', 0, 'dest']), `${common}:7:26`);
  assert.equal(loaded.where(['kernel-args', 1]), `${top}:6:22`);
  assert.equal(tf.postprocess[0]?.where, `${common}:6:15`);
});

test('an include cycle names the chain, at the include that closes it', async () => {
  const { message } = await failure({ 'treefile.yaml': 'ref: x\ninclude: a.yaml\n', 'a.yaml': 'include: [b.yaml]\n', 'b.yaml': 'include: [a.yaml]\n' });
  assert.equal(message, '<dir>/b.yaml:1:11: include cycle: <dir>/a.yaml -> <dir>/b.yaml -> <dir>/a.yaml');
  const self = await failure({ 'treefile.yaml': 'ref: x\ninclude: treefile.yaml\n' });
  assert.equal(self.message, '<dir>/treefile.yaml:2:10: include cycle: <dir>/treefile.yaml -> <dir>/treefile.yaml');
});

test('a cycle through a symbolic link is still a cycle', async () => {
  const dir = await tree({ 'treefile.yaml': 'ref: x\ninclude: link.yaml\n' });
  await symlink('treefile.yaml', join(dir, 'link.yaml'));
  await assert.rejects(loadTreefile(join(dir, 'treefile.yaml')), (err: unknown) =>
    err instanceof AptOstreeError && err.code === 'treefile-invalid' && err.message.includes('include cycle'));
});

test('a missing include is treefile-not-found, at the include', async () => {
  const { message } = await failure({ 'treefile.yaml': 'ref: x\ninclude:\n  - common.yaml\n' }, 'treefile-not-found');
  assert.equal(message, '<dir>/treefile.yaml:3:5: include: no treefile at <dir>/common.yaml');
});

test('errors in an included treefile point into that file', async () => {
  const { message } = await failure({ 'treefile.yaml': 'ref: x\ninclude: sub/a.yaml\n', 'sub/a.yaml': '\npackages: htop\n' });
  assert.equal(message, '<dir>/sub/a.yaml:2:11: packages: expected a list of strings, got a string ("htop")');
});

test('a treefile included twice (a diamond) contributes its items once', async () => {
  const { loaded } = await load({
    'common.yaml': 'packages: [systemd]\npostprocess: ["echo once"]\nrepos: [{uri: default}]\n',
    'a.yaml': 'include: common.yaml\npackages: [a1]\n',
    'b.yaml': 'include: common.yaml\npackages: [b1]\n',
    'treefile.yaml': 'ref: x\ninclude: [a.yaml, b.yaml]\n',
  });
  assert.deepEqual(loaded.treefile.packages, ['systemd', 'a1', 'b1']);
  assert.equal(loaded.treefile.postprocess.length, 1);
  assert.equal(loaded.treefile.repos.length, 1);
  assert.equal(loaded.files.length, 4);
});
