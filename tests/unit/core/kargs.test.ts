import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editKargs, validateKarg } from '../../../src/core/kargs.js';
import { parseRefspec } from '../../../src/core/refspec.js';
import { AptOstreeError } from '../../../src/lib/errors.js';

const base = ['root=/dev/vda', 'console=ttyS0', 'console=tty0', 'quiet'];

test('edits in rpm-ostree order', () => {
  assert.deepEqual(editKargs(base, { append: ['a=1'] }), [...base, 'a=1']);
  assert.deepEqual(editKargs(base, { appendIfMissing: ['quiet', 'b'] }), [...base, 'b']);
  assert.deepEqual(editKargs(base, { delete: ['quiet'] }), base.slice(0, 3));
  assert.deepEqual(editKargs(base, { delete: ['console=tty0'] }), ['root=/dev/vda', 'console=ttyS0', 'quiet']);
  assert.deepEqual(editKargs(base, { deleteIfPresent: ['nope'] }), base);
  assert.deepEqual(editKargs(base, { replace: ['root=/dev/vdb'] }), ['root=/dev/vdb', ...base.slice(1)]);
  assert.deepEqual(editKargs(base, { replace: ['console=tty0=tty1'] }), ['root=/dev/vda', 'console=ttyS0', 'console=tty1', 'quiet']);
});

test('ambiguous or impossible edits fail with invalid-karg', () => {
  const code = (fn: () => unknown): string => {
    try { fn(); } catch (e) { return (e as AptOstreeError).code; }
    return 'no error';
  };
  assert.equal(code(() => editKargs(base, { delete: ['console'] })), 'invalid-karg');
  assert.equal(code(() => editKargs(base, { delete: ['absent'] })), 'invalid-karg');
  assert.equal(code(() => editKargs(base, { replace: ['console=x'] })), 'invalid-karg');
  assert.equal(code(() => editKargs(base, { replace: ['absent=x'] })), 'invalid-karg');
});

test('kernel arguments with control characters, bare spaces or ostree= are refused', () => {
  for (const bad of ['a\nb', 'a b', 'tab\there', '', '=x', 'ostree=/x', 'x="unterminated']) {
    assert.throws(() => validateKarg(bad), (e: unknown) => e instanceof AptOstreeError && e.code === 'invalid-karg', bad);
  }
  assert.equal(validateKarg('opt="a b"'), 'opt="a b"');
});

test('refspecs', () => {
  assert.deepEqual(parseRefspec('kit:debian/13/x86_64/kit'), { remote: 'kit', ref: 'debian/13/x86_64/kit' });
  assert.deepEqual(parseRefspec('debian/13'), { remote: undefined, ref: 'debian/13' });
  for (const bad of ['foo;rm -rf /', '$(id)', '../x', 'a:b:c', '-x', 'a//b', 'kit:', ':ref', 'a/./b']) {
    assert.throws(() => parseRefspec(bad), (e: unknown) => e instanceof AptOstreeError && e.code === 'invalid-refspec', bad);
  }
});
