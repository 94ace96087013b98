/**
 * Reading a staged deployment's kernel arguments from /run/ostree/staged-deployment (src/core/sysroot/staged-kargs.ts).
 * The fixtures are GLib's own serializations of `a{sv}` dictionaries shaped like the one libostree writes ("target",
 * "merge-deployment", "kargs"), taken from commits made with `ostree commit --add-metadata` (same serializer).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readStagedKargs, stagedKargs } from '../../../../src/core/sysroot/staged-kargs.js';

const TARGET = `${'a'.repeat(64)}.0`;

/** target, merge-deployment, kargs (5, one quoted with a space), locked=false; 292 bytes: 2-byte framing offsets. */
const WITH_KARGS = Buffer.from(
  '74617267657400006e616d650000000061616161616161616161616161616161616161616161616161616161616161616161616161616161'
  + '6161616161616161616161616161616161616161616161612e300000730500006f736e616d65000064656269616e00007307000000000000'
  + '626f6f746373756d000000000000000062000073094e627d00617b73767d07006d657267652d6465706c6f796d656e740000000000000000'
  + '6e616d6500000000782e31000073050f00617b73767d11006b61726773000000726f6f743d555549443d313233342d616263640072770063'
  + '6f6e736f6c653d74747953302c3131353230306e38007175696574006f70743d22612062220014172e343e00617306006c6f636b65640000'
  + '000062078f00bf000f011c01', 'hex');

/** target and merge-deployment only (staged without --karg options); 193 bytes: 1-byte framing offsets. */
const WITHOUT_KARGS = Buffer.from(
  '74617267657400006e616d6500000000616161616161616161616161616161616161616161616161616161616161616161616161616161616161'
  + '616161616161616161616161616161616161612e300000730500006f736e616d65000064656269616e00007307000000000000626f6f7463'
  + '73756d000000000000000062000073094e627d00617b73767d07006d657267652d6465706c6f796d656e7400000000000000006e616d6500'
  + '000000782e31000073050f00617b73767d118fbf', 'hex');

/** target and kargs ['root=/dev/vda', 'evil\nline']. */
const WITH_NEWLINE = Buffer.from(
  '74617267657400006e616d6500000000616161616161616161616161616161616161616161616161616161616161616161616161616161616161'
  + '616161616161616161616161616161616161612e30000073054e00617b73767d0700006b61726773000000726f6f743d2f6465762f7664'
  + '61006576696c0a6c696e65000e18006173065e86', 'hex');

test('the kernel arguments recorded for the staged deployment are read as libostree wrote them', () => {
  assert.deepEqual(stagedKargs(WITH_KARGS, TARGET), ['root=UUID=1234-abcd', 'rw', 'console=ttyS0,115200n8', 'quiet', 'opt="a b"']);
});

test('no recorded arguments, another target, or an unusable argument read as "not recorded"', () => {
  assert.equal(stagedKargs(WITHOUT_KARGS, TARGET), undefined);
  assert.equal(stagedKargs(WITH_KARGS, `${'b'.repeat(64)}.0`), undefined);
  assert.equal(stagedKargs(WITH_KARGS, `${'a'.repeat(64)}.1`), undefined);
  assert.equal(stagedKargs(WITH_NEWLINE, TARGET), undefined);
});

test('a damaged or truncated file reads as "not recorded", never as other arguments', () => {
  assert.equal(stagedKargs(Buffer.alloc(0), TARGET), undefined);
  for (let cut = 1; cut < WITH_KARGS.length; cut++) assert.equal(stagedKargs(WITH_KARGS.subarray(0, cut), TARGET), undefined, `cut at ${cut}`);
  // Damage to the framing (offsets, NULs, type strings) is refused; only damage inside a string can go unnoticed.
  const framing = [WITH_KARGS.length - 1, WITH_KARGS.length - 2, WITH_KARGS.indexOf('kargs') + 5, WITH_KARGS.indexOf('as', 200)];
  for (const at of framing) {
    const damaged = Buffer.from(WITH_KARGS);
    damaged[at] = (damaged[at] ?? 0) ^ 0x41;
    assert.equal(stagedKargs(damaged, TARGET), undefined, `damage at ${at}`);
  }
});

test('readStagedKargs: a missing file is "not recorded"', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-staged-'));
  try {
    assert.equal(await readStagedKargs(TARGET, join(dir, 'staged-deployment')), undefined);
    await writeFile(join(dir, 'staged-deployment'), WITH_KARGS);
    assert.deepEqual(await readStagedKargs(TARGET, join(dir, 'staged-deployment')), ['root=UUID=1234-abcd', 'rw', 'console=ttyS0,115200n8', 'quiet', 'opt="a b"']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
