import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  aptArgument,
  parseNameRequest,
  parsePackageName,
  parsePackageRequest,
  type PackageRequest,
} from '../../../src/core/apt/package-request.js';
import { AptOstreeError } from '../../../src/lib/errors.js';
import { getKit } from '../../kit/index.js';

function hasCode(code: string, shows?: string): (err: unknown) => boolean {
  return (err) => {
    if (!(err instanceof AptOstreeError) || err.code !== code) return false;
    if (shows !== undefined) assert.ok(err.message.includes(shows), `${err.message} should show ${shows}`);
    assert.ok(err.hint, 'every error has a hint');
    return true;
  };
}

test('names, versions and architectures', () => {
  assert.deepEqual(parseNameRequest('htop'), { kind: 'name', name: 'htop' });
  assert.deepEqual(parseNameRequest('libstdc++6'), { kind: 'name', name: 'libstdc++6' });
  assert.deepEqual(parseNameRequest('curl=7.88.1-10+deb12u5'), { kind: 'name', name: 'curl', version: '7.88.1-10+deb12u5' });
  assert.deepEqual(parseNameRequest('libc6:i386'), { kind: 'name', name: 'libc6', arch: 'i386' });
  assert.deepEqual(parseNameRequest('kit-busybox:amd64=1:1.36.1-kit1'),
    { kind: 'name', name: 'kit-busybox', arch: 'amd64', version: '1:1.36.1-kit1' });
  assert.deepEqual(parseNameRequest('python3.11'), { kind: 'name', name: 'python3.11' });
  assert.deepEqual(parsePackageName('libc6:i386'), { name: 'libc6', arch: 'i386' });
});

test('anything else is an invalid package name, shown escaped', () => {
  const bad: [string, string][] = [
    ['foo;rm -rf /', '"foo;rm -rf /"'],
    ['$(id)', '"$(id)"'],
    ['../x', '"../x"'],
    ['two words', '"two words"'],
    ['Htop', '"Htop"'],
    ['bell\u0007', '"bell\\u0007"'],
    ['new\nline', '"new\\nline"'],
    ['-o=APT::Foo', '"-o=APT::Foo"'],
    ['a', '"a"'],
    ['', '""'],
    ['foo=', '"foo="'],
    ['foo=not a version', '"foo=not a version"'],
    ['foo=abc', '"foo=abc"'],
    ['foo:AMD64', '"foo:AMD64"'],
    ['foo:', '"foo:"'],
    ['foo:amd64:i386', '"foo:amd64:i386"'],
    ['foo*', '"foo*"'],
    ['?installed', '"?installed"'],
  ];
  for (const [text, shown] of bad) {
    assert.throws(() => parseNameRequest(text), hasCode('invalid-package-name', shown), text);
  }
  assert.throws(() => parsePackageName('foo=1.0'), hasCode('invalid-package-name'));
});

test('local files must end in .deb and exist; they resolve to absolute paths', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'apt-ostree-request-'));
  try {
    await assert.rejects(parsePackageRequest('../x'), hasCode('invalid-package-name', '"../x"'));
    await assert.rejects(parsePackageRequest('./x.txt', { cwd: dir }), hasCode('invalid-package-name'));
    await assert.rejects(parsePackageRequest('./missing.deb', { cwd: dir }), hasCode('invalid-package-name', 'missing.deb'));
    await assert.rejects(parsePackageRequest('./bad\u0001.deb', { cwd: dir }), hasCode('invalid-package-name', '\\u0001'));
    await writeFile(path.join(dir, 'corrupt.deb'), 'this is not an ar archive\n');
    await assert.rejects(parsePackageRequest('./corrupt.deb', { cwd: dir }), hasCode('invalid-deb', 'corrupt.deb'));
    // a bare file name ending in .deb is a file in the directory too
    await assert.rejects(parsePackageRequest('corrupt.deb', { cwd: dir }), hasCode('invalid-deb'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a kit .deb is read with dpkg-deb', async () => {
  const kit = await getKit();
  const deb = kit.debs['kit-app']!;
  const relative = `./${path.basename(deb)}`;
  const request = await parsePackageRequest(relative, { cwd: path.dirname(deb) });
  assert.deepEqual(request, { kind: 'file', path: deb, name: 'kit-app', version: '1.0-1', arch: kit.arch });
  assert.equal(aptArgument(request), deb);
});

test('apt arguments never look like options', () => {
  const requests: PackageRequest[] = [
    { kind: 'name', name: 'kit-app' },
    { kind: 'name', name: 'kit-app', arch: 'amd64', version: '1:1.0-1' },
  ];
  assert.deepEqual(requests.map(aptArgument), ['kit-app', 'kit-app:amd64=1:1.0-1']);
});
