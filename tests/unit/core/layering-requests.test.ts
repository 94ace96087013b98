/** The origin's requests (src/core/layering-requests.ts): initramfs regeneration is recorded with rpm-ostree's keys. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_REQUESTS, originWithRequests, readRequests, sameRequests, validateInitramfsArg } from '../../../src/core/layering-requests.js';
import { KeyFile } from '../../../src/lib/keyfile.js';

const plain = KeyFile.parse('[origin]\nrefspec=kit:debian/13\n');

test('initramfs regeneration round-trips through the origin, as rpm-ostree writes it', () => {
  const requests = { ...NO_REQUESTS, regenerateInitramfs: true, initramfsArgs: ['--add-drivers', 'nbd'] };
  const origin = originWithRequests(plain, 'kit:debian/13', requests);
  assert.equal(origin.get('origin', 'baserefspec'), 'kit:debian/13', 'a regenerated initramfs makes a derived commit');
  assert.equal(origin.has('origin', 'refspec'), false);
  assert.match(origin.toString(), /^\[rpmostree\]\nregenerate-initramfs=true\ninitramfs-args=--add-drivers;nbd;$/m);
  assert.deepEqual(readRequests(origin), requests);
  assert.ok(sameRequests(readRequests(origin), requests));

  const off = originWithRequests(origin, 'kit:debian/13', NO_REQUESTS);
  assert.equal(off.toString(), '[origin]\nrefspec=kit:debian/13\n');
  assert.deepEqual(readRequests(off), NO_REQUESTS);
});

test('other keys of the rpmostree group stay; arguments without regeneration are not read', () => {
  const foreign = KeyFile.parse('[origin]\nbaserefspec=kit:debian/13\n\n[rpmostree]\nregenerate-initramfs=true\ninitramfs-etc=/etc/crypttab;\n');
  const off = originWithRequests(foreign, 'kit:debian/13', NO_REQUESTS);
  assert.deepEqual(off.keys('rpmostree'), ['initramfs-etc']);
  assert.deepEqual(readRequests(KeyFile.parse('[rpmostree]\ninitramfs-args=--x;\n')).initramfsArgs, []);
});

test('a dracut argument must read back from the origin as it was given', () => {
  for (const ok of ['--add-drivers', 'nbd', '/etc/x y', '--include=/a']) validateInitramfsArg(ok);
  for (const bad of ['', 'a;b', ' lead', 'trail ', 'new\nline']) {
    assert.throws(() => { validateInitramfsArg(bad); }, /can not be a dracut argument/, JSON.stringify(bad));
  }
});

test('request sets compare by content; dracut arguments by order', () => {
  const a = { ...NO_REQUESTS, packages: ['htop'], regenerateInitramfs: true, initramfsArgs: ['-a', '-b'] };
  assert.ok(sameRequests(a, { ...a }));
  assert.ok(!sameRequests(a, { ...a, initramfsArgs: ['-b', '-a'] }));
  assert.ok(!sameRequests(a, { ...a, regenerateInitramfs: false, initramfsArgs: [] }));
});
