import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  archiveFileName,
  parseDownloadStatus,
  parseFetchFailures,
  parsePrintUris,
  parseSimulation,
  parseUnknownPackages,
  parseUnmetDependencies,
} from '../../../src/core/apt/apt-output.js';
import { holdPackages } from '../../../src/core/apt/held-status.js';
import { escapeRegex } from '../../../src/core/apt/search.js';

test('simulation lines: new, upgrade, foreign arch, several origins, removal, purge', () => {
  const out = [
    'Reading package lists...',
    'The following NEW packages will be installed:',
    '  hello',
    'Inst hello (2.10-3 Debian:12.15/oldstable [amd64])',
    'Inst bash [5.2.15-2] (5.2.15-2+b2 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) [libc6:amd64 ]',
    'Inst libc6:i386 (2.36-9 Debian:12.15/oldstable [i386])',
    'Inst kit-app (1.0-1 apt-ostree-kit:kit, local-deb [amd64])',
    'Conf hello (2.10-3 Debian:12.15/oldstable [amd64])',
    'Remv kit-filler-b [2.0-1]',
    'Purg libfoo:i386 [1.0]',
  ].join('\n');
  assert.deepEqual(parseSimulation(out), [
    { kind: 'inst', name: 'hello', arch: 'amd64', version: '2.10-3', origins: ['Debian:12.15/oldstable'] },
    { kind: 'inst', name: 'bash', arch: 'amd64', version: '5.2.15-2+b2', oldVersion: '5.2.15-2',
      origins: ['Debian:12.15/oldstable', 'Debian-Security:12/oldstable-security'] },
    { kind: 'inst', name: 'libc6', arch: 'i386', version: '2.36-9', origins: ['Debian:12.15/oldstable'] },
    { kind: 'inst', name: 'kit-app', arch: 'amd64', version: '1.0-1', origins: ['apt-ostree-kit:kit', 'local-deb'] },
    { kind: 'conf', name: 'hello', arch: 'amd64', version: '2.10-3' },
    { kind: 'remv', name: 'kit-filler-b', version: '2.0-1', purge: false },
    { kind: 'remv', name: 'libfoo', arch: 'i386', version: '1.0', purge: true },
  ]);
});

test('unmet dependencies are condensed to one line per relation', () => {
  const out = [
    'Some packages could not be installed. This may mean that you have',
    'The following information may help to resolve the situation:',
    '',
    'The following packages have unmet dependencies:',
    ' kit-skew : Depends: kit-libfoo1 (>= 1.1-1) but 1.0-1 is to be installed',
    ' foo : Depends: bar but it is not installable',
    '       Breaks: baz (< 2)',
    '',
  ].join('\n');
  assert.deepEqual(parseUnmetDependencies(out), [
    'kit-skew: Depends: kit-libfoo1 (>= 1.1-1) but 1.0-1 is to be installed',
    'foo: Depends: bar but it is not installable',
    'foo: Breaks: baz (< 2)',
  ]);
});

test('unknown packages, versions and virtual packages with several providers', () => {
  const stdout = 'Package mail-transport-agent is a virtual package provided by:\n  postfix 3.7\n  exim4-daemon-light 4.96\n'
    + 'You should explicitly select one to install.\n';
  const stderr = [
    'E: Unable to locate package kit-nope',
    "E: Version '9' for 'kit-app' was not found",
    "E: Package 'mail-transport-agent' has no installation candidate",
  ].join('\n');
  assert.deepEqual(parseUnknownPackages(stdout, stderr), [
    { name: 'kit-nope', reason: 'no such package in the configured repositories' },
    { name: 'kit-app', version: '9', reason: 'version 9 is not available' },
    { name: 'mail-transport-agent', reason: 'it is a virtual package provided by postfix, exim4-daemon-light: name one of them' },
  ]);
});

test('--print-uris lines, with and without a hash', () => {
  const out = "'http://127.0.0.1:8765/apt/pool/main/kit-app_1.0-1_amd64.deb' kit-app_1.0-1_amd64.deb 834 MD5Sum:4aed\n"
    + "'file:/tmp/x/kit-local.deb' kit-local_1%3a2.0-1_all.deb 732 \n";
  assert.deepEqual(parsePrintUris(out), [
    { uri: 'http://127.0.0.1:8765/apt/pool/main/kit-app_1.0-1_amd64.deb', fileName: 'kit-app_1.0-1_amd64.deb', size: 834, hash: 'MD5Sum:4aed' },
    { uri: 'file:/tmp/x/kit-local.deb', fileName: 'kit-local_1%3a2.0-1_all.deb', size: 732, hash: '' },
  ]);
  assert.equal(archiveFileName({ name: 'kit-local', version: '1:2.0-1', arch: 'all' }), 'kit-local_1%3a2.0-1_all.deb');
});

test('fetch failures from apt-get update', () => {
  const stdout = 'Ign:1 http://127.0.0.1:1/apt kit InRelease\nErr:1 http://127.0.0.1:1/apt kit InRelease\n'
    + '  Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)\nReading package lists...\n';
  const stderr = 'W: Failed to fetch http://127.0.0.1:1/apt/dists/kit/InRelease  Could not connect to 127.0.0.1:1 (127.0.0.1). '
    + '- connect (111: Connection refused) [IP: 127.0.0.1 1]\n'
    + 'W: Some index files failed to download. They have been ignored, or old ones used instead.\n';
  const expected = [{
    uri: 'http://127.0.0.1:1/apt/dists/kit/InRelease',
    reason: 'Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)',
  }];
  assert.deepEqual(parseFetchFailures(stdout, stderr), expected);
  assert.deepEqual(parseFetchFailures(stdout, ''), [{ uri: 'http://127.0.0.1:1/apt kit InRelease', reason: expected[0]!.reason }]);
  assert.deepEqual(parseFetchFailures('Hit:1 http://x kit InRelease\n', ''), []);
});

test('status-fd download lines', () => {
  assert.deepEqual(parseDownloadStatus('dlstatus:2:16.5455:Retrieving file 2 of 6'),
    { items: 2, percent: 16.5455, message: 'Retrieving file 2 of 6' });
  assert.equal(parseDownloadStatus('pmstatus:dpkg-exec:0:Running dpkg'), null);
});

test('holds: only installed packages named are held, the rest of the file is unchanged', () => {
  const status = [
    'Package: a', 'Status: install ok installed', 'Version: 1', '',
    'Package: b', 'Status: install ok installed', 'Description: b', ' more', ' .', ' end', '',
    'Package: c', 'Status: deinstall ok config-files', 'Version: 1', '',
  ].join('\n');
  const held = holdPackages(`${status}\n`, new Set(['a', 'c']));
  assert.equal(held, `${status.replace('Package: a\nStatus: install ok installed', 'Package: a\nStatus: hold ok installed')}\n`);
});

test('search terms are plain text', () => {
  assert.equal(escapeRegex('c++'), 'c\\+\\+');
  assert.equal(escapeRegex('a.b*(x)|[y]^$\\'), 'a\\.b\\*\\(x\\)\\|\\[y\\]\\^\\$\\\\');
});
