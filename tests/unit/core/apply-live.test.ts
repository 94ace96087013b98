/** apply-live's decisions (src/core/ops/apply-live.ts): what of a tree difference goes live, and what needs a flag. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOstreeDiff, planLiveChanges, type TreeChange } from '../../../src/core/ops/apply-live.js';

const changes = (text: string): TreeChange[] => parseOstreeDiff(text);

test('ostree diff output parses into changes; anything else is ignored', () => {
  assert.deepEqual(parseOstreeDiff('M    /usr/a\nA    /usr/b c\nD    /usr/d\nnoise\nA    relative\nA    /usr/../etc/x\n'), [
    { kind: 'modified', path: '/usr/a' }, { kind: 'added', path: '/usr/b c' }, { kind: 'removed', path: '/usr/d' },
  ]);
});

test('a pure addition goes live: new files, the package state, new /etc defaults; an added directory comes whole', () => {
  const plan = planLiveChanges(changes([
    'A    /usr/bin/htop',
    'A    /usr/share/doc/htop',
    'A    /usr/share/doc/htop/copyright',
    'M    /usr/share/dpkg/database/status',
    'A    /usr/share/dpkg/database/info/htop.list',
    'M    /usr/share/apt-ostree/extended_states',
    'M    /usr/etc/ld.so.cache',
    'A    /usr/etc/htoprc',
    'A    /usr/etc/htop.d',
    'A    /usr/etc/htop.d/a.conf',
    'M    /usr/lib/sysusers.d/apt-ostree-layered.conf',
  ].join('\n')), () => false, false);
  assert.deepEqual(plan.replacements, []);
  assert.deepEqual(plan.copy, ['bin/htop', 'etc/htop.d', 'etc/htoprc', 'etc/ld.so.cache', 'lib/sysusers.d/apt-ostree-layered.conf',
    'share/apt-ostree/extended_states', 'share/doc/htop', 'share/dpkg/database/info/htop.list', 'share/dpkg/database/status']);
  assert.deepEqual(plan.etc, ['htop.d', 'htop.d/a.conf', 'htoprc']);
  assert.deepEqual(plan.remove, []);
  assert.deepEqual(plan.counts, { added: 7, replaced: 4, removed: 0 });
  assert.deepEqual(plan.notApplied, []);
});

test('changed and removed files of the running system need --allow-replacement', () => {
  const diff = changes('M    /usr/lib/x86_64-linux-gnu/libfoo.so.1\nD    /usr/bin/old\nD    /usr/share/old\nD    /usr/share/old/f\n'
    + 'D    /usr/share/dpkg/database/info/old.list\n');
  const refused = planLiveChanges(diff, () => false, false);
  assert.deepEqual(refused.replacements, ['/usr/bin/old', '/usr/lib/x86_64-linux-gnu/libfoo.so.1', '/usr/share/old', '/usr/share/old/f']);
  assert.deepEqual(refused.copy, []);
  assert.deepEqual(refused.remove, ['share/dpkg/database/info/old.list'], 'the package state follows anyway');

  const allowed = planLiveChanges(diff, () => false, true);
  assert.deepEqual(allowed.copy, ['lib/x86_64-linux-gnu/libfoo.so.1']);
  assert.deepEqual(allowed.remove, ['bin/old', 'share/dpkg/database/info/old.list', 'share/old']);
  assert.deepEqual(allowed.counts, { added: 0, replaced: 1, removed: 4 });
});

test('never live: the kernel and initramfs, anything outside /usr, directory metadata', () => {
  const plan = planLiveChanges(changes('M    /usr/lib/modules/6.12.1/initramfs.img\nA    /usr/lib/modules/6.12.1/kernel/x.ko\n'
    + 'M    /usr/lib/modules/6.12.1/vmlinuz\nA    /opt\nM    /usr/share/man\n'), (p) => p === '/usr/share/man', true);
  assert.deepEqual(plan.copy, ['lib/modules/6.12.1/kernel/x.ko']);
  assert.equal(plan.notApplied.length, 4);
  assert.match(plan.notApplied.join('\n'), /\/opt \(outside \/usr\)/);
  assert.match(plan.notApplied.join('\n'), /initramfs\.img \(the kernel and initramfs change at the next boot\)/);
  assert.match(plan.notApplied.join('\n'), /\/usr\/share\/man \(directory metadata\)/);
});
