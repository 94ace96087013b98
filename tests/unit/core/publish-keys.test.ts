import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  detectKeyKind, ed25519PublicFromSecret, issuedBy, parseByteArrays, readSignKey, signatureIssuers,
} from '../../../src/core/compose/publish/keys.js';
import { AptOstreeError } from '../../../src/lib/errors.js';

function ed25519Pair(): { secret: string; public: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  return { secret: Buffer.concat([seed, pub]).toString('base64'), public: pub.toString('base64') };
}

const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('detectKeyKind', () => {
  test('armored OpenPGP keys, with text around them', () => {
    assert.equal(detectKeyKind(text('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEaw1PFhYJKwYBBAHaRw8BAQdA\n-----END PGP PRIVATE KEY BLOCK-----\n')), 'gpg-secret');
    assert.equal(detectKeyKind(text('Comment: ours\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaw1P\n-----END PGP PUBLIC KEY BLOCK-----\n')), 'gpg-public');
  });

  test('binary OpenPGP keys: old and new packet headers', () => {
    assert.equal(detectKeyKind(Uint8Array.from([0x94, 0x58, 0x04])), 'gpg-secret'); // old format, tag 5, one-byte length
    assert.equal(detectKeyKind(Uint8Array.from([0x95, 0x01, 0x00, 0x04])), 'gpg-secret');
    assert.equal(detectKeyKind(Uint8Array.from([0x98, 0x33, 0x04])), 'gpg-public'); // tag 6
    assert.equal(detectKeyKind(Uint8Array.from([0x99, 0x01, 0x0d, 0x04])), 'gpg-public');
    assert.equal(detectKeyKind(Uint8Array.from([0xc5, 0x58, 0x04])), 'gpg-secret'); // new format
    assert.equal(detectKeyKind(Uint8Array.from([0xc6, 0x33, 0x04])), 'gpg-public');
    assert.equal(detectKeyKind(Uint8Array.from([0x89, 0x01, 0x33])), undefined, 'a signature is no key');
  });

  test('ed25519 keys in ostree\'s base64 format', () => {
    const a = ed25519Pair();
    const b = ed25519Pair();
    assert.equal(detectKeyKind(text(`${a.secret}\n`)), 'ed25519-secret');
    assert.equal(detectKeyKind(text(a.public)), 'ed25519-public');
    assert.equal(detectKeyKind(text(`# fleet keys\n${a.public}\n\n${b.public}\n`)), 'ed25519-public');
    assert.equal(detectKeyKind(text(`${a.public}\n${b.secret}\n`)), undefined, 'a mix of secret and public keys');
    assert.equal(ed25519PublicFromSecret(a.secret), a.public);
  });

  test('anything else', () => {
    assert.equal(detectKeyKind(text('')), undefined);
    assert.equal(detectKeyKind(text('hello world\n')), undefined);
    assert.equal(detectKeyKind(text(randomBytes(40).toString('base64'))), undefined);
    // A GnuPG keybox (pubring.kbx) is not an OpenPGP key export.
    assert.equal(detectKeyKind(Uint8Array.from([0, 0, 0, 32, 1, 2, 0, 0, 0x4b, 0x42, 0x58, 0x66])), undefined);
  });
});

describe('readSignKey', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'apt-ostree-keys-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('a key of the wrong role is refused with sign-key-invalid', async () => {
    const pair = ed25519Pair();
    const secret = join(dir, 'ed.secret');
    const pub = join(dir, 'ed.pub');
    await writeFile(secret, `${pair.secret}\n`);
    await writeFile(pub, `${pair.public}\n`);
    assert.deepEqual(await readSignKey(secret, 'secret'), { kind: 'ed25519-secret', path: secret, ed25519Keys: [pair.secret] });
    assert.deepEqual((await readSignKey(pub, 'public')).ed25519Keys, [pair.public]);
    const refused = async (path: string, role: 'secret' | 'public', message: RegExp): Promise<void> => {
      await assert.rejects(readSignKey(path, role), (e: unknown) => e instanceof AptOstreeError && e.code === 'sign-key-invalid' && message.test(e.message));
    };
    await refused(pub, 'secret', /is an ed25519 public key, but a secret key is needed/);
    await refused(secret, 'public', /is an ed25519 secret key, but a public key is needed/);
    await refused(join(dir, 'missing'), 'public', /can not read the key file/);
    await refused(dir, 'public', /not a regular file/);
    const junk = join(dir, 'junk');
    await writeFile(junk, 'not a key\n');
    await refused(junk, 'secret', /neither an OpenPGP key nor an ed25519 key/);
  });
});

describe('OpenPGP signature issuers', () => {
  const fpr = Buffer.from('41565DBD3F00BBE7AF648DA311F2DFC02DADA0EE', 'hex');
  const keyId = fpr.subarray(12);

  /** A v4 signature packet: issuer fingerprint hashed, issuer key id unhashed (what gpg writes). */
  function v4Signature(newFormat: boolean): Uint8Array {
    const hashed = Buffer.concat([Buffer.from([22, 33, 4]), fpr, Buffer.from([5, 2, 0x6b, 0x0d, 0x4f, 0x19])]);
    const unhashed = Buffer.concat([Buffer.from([9, 16]), keyId]);
    const body = Buffer.concat([
      Buffer.from([4, 0x00, 22, 8, 0, hashed.length]), hashed, Buffer.from([0, unhashed.length]), unhashed,
      Buffer.from([0xab, 0xcd, 0x00, 0x08, 0xff]),
    ]);
    return Buffer.concat([Buffer.from(newFormat ? [0xc2, body.length] : [0x88, body.length]), body]);
  }

  test('fingerprint and key id subpackets, old and new packet headers', () => {
    for (const newFormat of [false, true]) {
      assert.deepEqual(signatureIssuers(v4Signature(newFormat)), [fpr.toString('hex').toUpperCase(), keyId.toString('hex').toUpperCase()]);
    }
    const v3 = Buffer.concat([Buffer.from([0x88, 19, 3, 5, 0, 1, 2, 3, 4]), keyId, Buffer.from([1, 8, 0xab, 0xcd])]);
    assert.deepEqual(signatureIssuers(v3), [keyId.toString('hex').toUpperCase()]);
    assert.deepEqual(signatureIssuers(Uint8Array.from([1, 2, 3])), []);
  });

  test('issuedBy matches a fingerprint, or a key id against any fingerprint of the key', () => {
    const primary = fpr.toString('hex').toUpperCase();
    const subkey = 'AAAABBBBCCCCDDDDEEEEFFFF0000111122223333';
    assert.ok(issuedBy([primary], [primary]));
    assert.ok(issuedBy([subkey], [primary, subkey]));
    assert.ok(issuedBy(['0000111122223333'], [primary, subkey]));
    assert.ok(!issuedBy(['0000111122223334'], [primary, subkey]));
    assert.ok(!issuedBy([], [primary]));
  });

  test('parseByteArrays reads ostree\'s `aay` text', () => {
    assert.deepEqual(parseByteArrays('[[byte 0x88, 0x75], [0x04, 0x00, 0xff]]').map((a) => [...a]), [[0x88, 0x75], [0x04, 0x00, 0xff]]);
    assert.deepEqual(parseByteArrays('@aay []'), []);
  });
});
