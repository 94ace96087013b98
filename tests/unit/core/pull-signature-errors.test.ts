import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signatureError } from '../../../src/core/ostree/pull.js';
import { oneLine } from '../../../src/lib/errors.js';

const C = '6f5a5677e2143991771a2d623e45be57711e4749de24a6a371853b47ccb11148';

// ostree's messages as ostree 2022.7 prints them (provoked in tests/system/publish.test.ts), and the signapi ones.
const UNSIGNED = [
  `Commit ${C}: GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)`,
  'GPG verification enabled, but no summary.sig found (use gpg-verify-summary=false in remote config to disable)',
  'GPG verification enabled, but no summary signatures found (use gpg-verify-summary=false in remote config to disable)',
  'Signatures verification enabled, but no summary.sig found (use sign-verify-summary=false in remote config to disable)',
  "Can't verify commit: No signatures found",
];
const INVALID = [
  `Commit ${C}: Signature made Mon Nov 30 10:25:57 2026 using EdDSA key ID 3C7E9AFAEE19DCC3\nCan't check signature: public key not found`,
  `Commit ${C}: Signature made Thu Jan  1 00:00:00 1970 using [unknown name] key ID 11F2DFC02DADA0EE\nBAD signature from "test <t@example.invalid>"\nPrimary key ID 11F2DFC02DADA0EE`,
  "Can't verify commit: ed25519: Signature couldn't be verified with: key 'd0c1…'",
  'GPG signatures found, but none are in trusted keyring',
];

test('unsigned commits and summaries map to unsigned-commit', () => {
  for (const text of UNSIGNED) {
    const e = signatureError(oneLine(text), 'kit');
    assert.equal(e?.code, 'unsigned-commit', text);
  }
  assert.match(signatureError(oneLine(UNSIGNED[0]!), 'kit')?.message ?? '', /^commit 6f5a5677e214 from remote kit is not signed/);
  assert.match(signatureError(UNSIGNED[1]!, 'kit')?.message ?? '', /^the summary of remote kit is not signed/);
});

test('signatures that do not verify map to signature-invalid', () => {
  for (const text of INVALID) {
    const e = signatureError(oneLine(text), 'kit');
    assert.equal(e?.code, 'signature-invalid', text);
    assert.doesNotMatch(e.message, /Commit [0-9a-f]{64}/, 'the checksum is said once, short');
  }
});

test('other pull failures are not about signatures', () => {
  for (const text of ['Remote "kit" not found', 'No such branch debian/13/x86_64/nope in repository',
    'While fetching http://127.0.0.1:1/summary: Could not connect: Connection refused']) {
    assert.equal(signatureError(text, 'kit'), undefined, text);
  }
});
