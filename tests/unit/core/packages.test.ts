import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DPKG_STATUS_PATH,
  diffPackages,
  formatPackageDiff,
  isEmptyDiff,
  parseInstalledPackages,
  readCommitPackages,
  readTreePackages,
  type InstalledPackage,
} from '../../../src/core/packages.js';
import { AptOstreeError } from '../../../src/lib/errors.js';
import { run } from '../../../src/lib/exec.js';

function pkg(name: string, version: string, architecture = 'amd64'): InstalledPackage {
  return { name, version, architecture, source: name, sourceVersion: version, status: 'install ok installed' };
}

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof AptOstreeError && err.code === code;
}

const STATUS_TEXT = `Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.

Package: bash
Essential: yes
Status: hold ok installed
Priority: required
Section: shells
Installed-Size: 7163
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 5.2.15-2+b7
Replaces: bash-completion (<< 20060301-0), bash-doc (<= 2.05-1)
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
 /etc/skel/.bashrc 2afdd6c53990f2387a7ef6b5c4b7b3c0
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.

Package: old-removed
Status: deinstall ok config-files
Priority: optional
Architecture: all
Version: 0.9-1
Conffiles:
 /etc/old-removed.conf 00000000000000000000000000000000

Package: broken
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0-1
`;

void test('parseInstalledPackages keeps installed packages (held ones too), sorted, with the cheap fields', () => {
  const packages = parseInstalledPackages(STATUS_TEXT);
  assert.deepEqual(packages, [
    {
      name: 'bash', version: '5.2.15-2+b7', architecture: 'amd64', source: 'bash', sourceVersion: '5.2.15-2+b7',
      status: 'hold ok installed', essential: true, multiArch: 'foreign', installedSize: 7163, section: 'shells',
      priority: 'required',
    },
    {
      name: 'zlib1g', version: '1:1.2.13.dfsg-1+b1', architecture: 'amd64', source: 'zlib',
      sourceVersion: '1:1.2.13.dfsg-1', status: 'install ok installed', multiArch: 'same', provides: [{ name: 'libz1' }],
      installedSize: 168, section: 'libs', priority: 'optional',
    },
  ]);
});

void test('parseInstalledPackages sorts by name then architecture and keeps both instances of a multiarch package', () => {
  const text = ['libc6', 'apt'].flatMap((name) => ['i386', 'amd64'].map((arch) =>
    `Package: ${name}\nStatus: install ok installed\nArchitecture: ${arch}\nVersion: 1\n`)).join('\n');
  assert.deepEqual(parseInstalledPackages(text).map((p) => `${p.name}:${p.architecture}`),
    ['apt:amd64', 'apt:i386', 'libc6:amd64', 'libc6:i386']);
});

void test('parseInstalledPackages refuses an installed package without a version', () => {
  assert.throws(() => parseInstalledPackages('Package: x\nStatus: install ok installed\nArchitecture: all\n'),
    hasCode('parse-error'));
});

void test('diffPackages sorts changes into added, removed, upgraded and downgraded', () => {
  const from = [pkg('bash', '5.2-1'), pkg('coreutils', '9.1-1'), pkg('foo', '1.0'), pkg('same', '2.0'),
    pkg('zsh', '5.9-4'), pkg('equal', '1.0')];
  const to = [pkg('zsh', '5.9-3'), pkg('bash', '5.2-2'), pkg('bar', '2.0'), pkg('coreutils', '9.1-1~bpo1'),
    pkg('same', '2.0'), pkg('aaa', '0.1'), pkg('equal', '0:1.0-0')];
  const diff = diffPackages(from, to);
  assert.deepEqual(diff, {
    added: [
      { name: 'aaa', arch: 'amd64', key: 'aaa', newVersion: '0.1' },
      { name: 'bar', arch: 'amd64', key: 'bar', newVersion: '2.0' },
    ],
    removed: [{ name: 'foo', arch: 'amd64', key: 'foo', oldVersion: '1.0' }],
    upgraded: [{ name: 'bash', arch: 'amd64', key: 'bash', oldVersion: '5.2-1', newVersion: '5.2-2' }],
    downgraded: [
      { name: 'coreutils', arch: 'amd64', key: 'coreutils', oldVersion: '9.1-1', newVersion: '9.1-1~bpo1' },
      { name: 'zsh', arch: 'amd64', key: 'zsh', oldVersion: '5.9-4', newVersion: '5.9-3' },
    ],
  });
  assert.equal(isEmptyDiff(diff), false);
  assert.equal(isEmptyDiff(diffPackages(from, [...from].reverse())), true);
  // The JSON form is the object itself.
  assert.deepEqual(JSON.parse(JSON.stringify(diff)), diff);
});

void test('diffPackages qualifies names with the architecture only when a name has several', () => {
  const from = [pkg('libc6', '2.36-9'), pkg('libc6', '2.36-9', 'i386'), pkg('tool', '1', 'i386'), pkg('zlib1g', '1')];
  const to = [pkg('libc6', '2.36-9'), pkg('libc6', '2.36-10', 'i386'), pkg('tool', '1', 'amd64'), pkg('zlib1g', '2')];
  const diff = diffPackages(from, to);
  assert.deepEqual(diff.upgraded.map((c) => c.key), ['libc6:i386', 'zlib1g']);
  // A crossgrade is a removal plus an addition, both qualified so the two lines can be told apart.
  assert.deepEqual(diff.removed, [{ name: 'tool', arch: 'i386', key: 'tool:i386', oldVersion: '1' }]);
  assert.deepEqual(diff.added, [{ name: 'tool', arch: 'amd64', key: 'tool:amd64', newVersion: '1' }]);
});

void test('formatPackageDiff prints rpm-ostree style sections and nothing for no change', () => {
  const from = [pkg('bash', '5.2-1'), pkg('foo', '1.0'), pkg('zsh', '5.9-4')];
  const to = [pkg('bash', '5.2-2'), pkg('bar', '2.0'), pkg('zsh', '5.9-3')];
  assert.deepEqual(formatPackageDiff(diffPackages(from, to)), [
    'Upgraded:', '  bash 5.2-1 -> 5.2-2',
    'Downgraded:', '  zsh 5.9-4 -> 5.9-3',
    'Removed:', '  foo-1.0',
    'Added:', '  bar-2.0',
  ]);
  assert.deepEqual(formatPackageDiff(diffPackages(from, from)), []);
});

async function dpkgQueryInstalled(statusText: string, scratch: string): Promise<string[]> {
  const admindir = path.join(scratch, 'admindir');
  await mkdir(path.join(admindir, 'info'), { recursive: true });
  await writeFile(path.join(admindir, 'status'), statusText);
  await writeFile(path.join(admindir, 'available'), '');
  const { stdout } = await run(['dpkg-query', `--admindir=${admindir}`, '-W',
    '-f=${Package} ${Version} ${Architecture} ${db:Status-Status}\n']);
  return stdout.split('\n')
    .filter((line) => line.endsWith(' installed'))
    .map((line) => line.replace(/ installed$/, ''))
    .sort();
}

void test('readCommitPackages and readTreePackages read the dpkg database of a commit and agree with dpkg-query', {
  skip: existsSync('/usr/bin/ostree') ? false : 'ostree is not installed',
}, async () => {
  const scratch = await mkdtemp(path.join(tmpdir(), 'apt-ostree-packages-'));
  try {
    const repo = path.join(scratch, 'repo');
    const tree = path.join(scratch, 'tree');
    await mkdir(path.dirname(path.join(tree, DPKG_STATUS_PATH)), { recursive: true });
    await writeFile(path.join(tree, DPKG_STATUS_PATH), STATUS_TEXT);
    await mkdir(path.join(scratch, 'empty', 'usr'), { recursive: true });
    await run(['ostree', 'init', `--repo=${repo}`, '--mode=bare-user']);
    const { stdout } = await run(['ostree', 'commit', `--repo=${repo}`, '--branch=t', `--tree=dir=${tree}`]);
    const checksum = stdout.trim();
    await run(['ostree', 'commit', `--repo=${repo}`, '--branch=empty', `--tree=dir=${path.join(scratch, 'empty')}`]);

    const expected = await dpkgQueryInstalled(STATUS_TEXT, scratch);
    assert.equal(expected.length, 2);
    const describe = (p: InstalledPackage): string => `${p.name} ${p.version} ${p.architecture}`;

    const byRef = await readCommitPackages(repo, 't');
    assert.deepEqual(byRef.map(describe).sort(), expected);
    assert.deepEqual(await readCommitPackages(repo, checksum), byRef);
    assert.deepEqual(await readTreePackages(tree), byRef);

    await assert.rejects(readCommitPackages(repo, 'empty'), hasCode('no-package-database'));
    await assert.rejects(readCommitPackages(repo, 'no-such-ref'), hasCode('unknown-revision'));
    await assert.rejects(readCommitPackages(repo, '--help'), hasCode('invalid-argument'));
    await assert.rejects(readTreePackages(path.join(scratch, 'empty')), hasCode('no-package-database'));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
});
