import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  Deb822Paragraph,
  formatRelationField,
  parseDeb822,
  parseProvides,
  parseRelationField,
  serializeDeb822,
  stripClearsign,
} from '../../../src/lib/deb822.js';
import { AptOstreeError } from '../../../src/lib/errors.js';
import { run } from '../../../src/lib/exec.js';

const DPKG_STATUS = '/var/lib/dpkg/status';
const APT_LISTS = '/var/lib/apt/lists';

function parseError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => err instanceof AptOstreeError && err.code === 'parse-error' && pattern.test(err.message);
}

void test('paragraphs keep field order and original case, lookups ignore case', () => {
  const paragraphs = parseDeb822('Package: hello\nVERSION: 2.10-3\nArchitecture: amd64\n\nPackage: bash\n');
  assert.equal(paragraphs.length, 2);
  const [first, second] = paragraphs as [Deb822Paragraph, Deb822Paragraph];
  assert.deepEqual(first.fields.map((f) => f.name), ['Package', 'VERSION', 'Architecture']);
  assert.equal(first.get('version'), '2.10-3');
  assert.equal(first.get('Version'), '2.10-3');
  assert.equal(first.has('architecture'), true);
  assert.equal(first.get('Depends'), undefined);
  assert.deepEqual(second.toRecord(), { Package: 'bash' });
});

void test('continuation lines keep their newline and " ." is an empty line', () => {
  const text = [
    'Package: demo',
    'Description: short summary',
    ' First paragraph of the long description.',
    ' .',
    '  A verbatim line keeps its extra space.',
    '\tA tab continuation works too.',
    '',
  ].join('\n');
  const p = parseDeb822(text)[0]!;
  assert.equal(p.get('Description'), [
    'short summary',
    'First paragraph of the long description.',
    '',
    ' A verbatim line keeps its extra space.',
    'A tab continuation works too.',
  ].join('\n'));
});

void test('a value with an empty first line (Conffiles) starts with a newline and getLines lists its entries', () => {
  const text = 'Package: base-files\nConffiles:\n /etc/debian_version 1234 obsolete\n /etc/issue abcd\n';
  const p = parseDeb822(text)[0]!;
  assert.equal(p.get('Conffiles'), '\n/etc/debian_version 1234 obsolete\n/etc/issue abcd');
  assert.deepEqual(p.getLines('conffiles'), ['/etc/debian_version 1234 obsolete', '/etc/issue abcd']);
  assert.equal(serializeDeb822(parseDeb822(text)), `${text}\n`);
});

void test('comment lines are ignored anywhere, even between continuation lines', () => {
  const text = '# leading comment\nTypes: deb\n# between fields\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n'
    + ' bookworm-updates\n# inside a value\n bookworm-backports\nComponents: main\n';
  const paragraphs = parseDeb822(text);
  assert.equal(paragraphs.length, 1);
  const p = paragraphs[0]!;
  assert.deepEqual(p.fields.map((f) => f.name), ['Types', 'URIs', 'Suites', 'Components']);
  assert.equal(p.get('Suites'), 'bookworm\nbookworm-updates\nbookworm-backports');
});

void test('CRLF line endings are tolerated', () => {
  const [a, b] = parseDeb822('Package: a\r\nDescription: x\r\n more\r\n\r\nPackage: b\r\n');
  assert.equal(a?.get('Description'), 'x\nmore');
  assert.equal(b?.get('package'), 'b');
});

void test('blank and whitespace-only lines separate paragraphs; runs of them make no empty paragraphs', () => {
  const paragraphs = parseDeb822('\n\n  \nPackage: a\n \t \nPackage: b\n\n\n\nPackage: c\n   \n');
  assert.deepEqual(paragraphs.map((p) => p.get('Package')), ['a', 'b', 'c']);
  assert.deepEqual(parseDeb822(''), []);
  assert.deepEqual(parseDeb822('# only a comment\n\n'), []);
  assert.equal(parseDeb822('Package: no-final-newline').length, 1);
});

void test('leading space after the colon and trailing space at the end of the value are dropped, inner lines kept', () => {
  const p = parseDeb822('Package:   spaced   \nDescription: summary  \n body  \n last  \nEmpty:\nEmpty-Spaces:   \n')[0]!;
  assert.equal(p.get('Package'), 'spaced');
  assert.equal(p.get('Description'), 'summary  \nbody  \nlast');
  assert.equal(p.get('Empty'), '');
  assert.equal(p.get('Empty-Spaces'), '');
});

void test('malformed input throws parse-error with the line number', () => {
  assert.throws(() => parseDeb822(' continuation first\n'), parseError(/line 1: continuation line/));
  assert.throws(() => parseDeb822('Package: a\nno colon here\n'), parseError(/line 2: expected "Field: value"/));
  assert.throws(() => parseDeb822('Package: a\npackage: b\n'), parseError(/line 2: duplicate field package/));
  assert.throws(() => parseDeb822('Package: a\nBad Name: b\n'), parseError(/line 2: invalid field name "Bad Name"/));
  assert.throws(() => parseDeb822('Package: a\n-Dash: b\n'), parseError(/invalid field name/));
  assert.throws(() => new Deb822Paragraph().set('Bad:Name', 'v'),
    (e: unknown) => e instanceof AptOstreeError && e.code === 'invalid-argument');
  assert.throws(() => parseDeb822('Package: a\n:x\n', { source: 'x/status' }), parseError(/^x\/status line 2:/));
  assert.throws(() => parseDeb822('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: b\n'),
    (err: unknown) => err instanceof AptOstreeError && /stripClearsign/.test(err.hint ?? ''));
});

void test('serializer round-trips canonical text byte for byte', () => {
  const text = [
    'Package: demo', 'Status: install ok installed', 'Description: summary', ' body', ' .', '  verbatim',
    'Conffiles:', ' /etc/demo.conf 0123abcd', '', 'Package: other', 'Version: 1:2.0~rc1-1', '', '',
  ].join('\n');
  assert.equal(serializeDeb822(parseDeb822(text)), text);
});

void test('set keeps position and spelling, appends new fields; delete removes', () => {
  const p = parseDeb822('Package: a\nStatus: install ok unpacked\nVersion: 1\n')[0]!;
  p.set('STATUS', 'install ok installed').set('Multi-Arch', 'same');
  assert.equal(p.delete('version'), true);
  assert.equal(p.delete('version'), false);
  assert.equal(serializeDeb822([p]), 'Package: a\nStatus: install ok installed\nMulti-Arch: same\n\n');
  const built = new Deb822Paragraph({ Package: 'x', Description: 'one\ntwo\n\nfour' });
  assert.equal(serializeDeb822([built]), 'Package: x\nDescription: one\n two\n .\n four\n\n');
  assert.deepEqual(parseDeb822(serializeDeb822([built]))[0]?.toRecord(), built.toRecord());
  assert.equal(new Deb822Paragraph([['A', '1'], ['B', '2']]).size, 2);
});

void test('stripClearsign returns the signed text and undoes dash-escaping', () => {
  const signed = [
    '-----BEGIN PGP SIGNED MESSAGE-----', 'Hash: SHA256', '', 'Origin: Test', 'Description: x', '- -dash escaped',
    '-----BEGIN PGP SIGNATURE-----', '', 'iQIz...', '-----END PGP SIGNATURE-----', '',
  ].join('\n');
  assert.equal(stripClearsign(signed), 'Origin: Test\nDescription: x\n-dash escaped\n');
  assert.equal(stripClearsign('Origin: Test\n'), 'Origin: Test\n');
  assert.throws(() => stripClearsign('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: b\n'), AptOstreeError);
});

void test('parseRelationField handles alternatives, arch qualifiers, versions, arch restrictions and profiles', () => {
  assert.deepEqual(parseRelationField('a (>= 1.0) | b, c:any [amd64] <!nocheck>'), [
    [{ name: 'a', relation: '>=', version: '1.0' }, { name: 'b' }],
    [{ name: 'c', arch: 'any', archRestrictions: ['amd64'], buildProfiles: [['!nocheck']] }],
  ]);
  assert.deepEqual(parseRelationField('libc6 (>= 2.34), libgcc-s1 (>= 3.0)').map((g) => g[0]?.version), ['2.34', '3.0']);
  assert.deepEqual(parseRelationField('x (<<1:2~b-1)')[0]?.[0], { name: 'x', relation: '<<', version: '1:2~b-1' });
  assert.deepEqual(parseRelationField('x ( = 1 ), y (<= 2), z (>> 3)').map((g) => g[0]?.relation), ['=', '<=', '>>']);
});

void test('parseRelationField maps the obsolete < and > to <= and >=, as dpkg does', () => {
  assert.deepEqual(parseRelationField('a (< 1), b (> 2)').map((g) => g[0]?.relation), ['<=', '>=']);
});

void test('parseRelationField tolerates newlines, extra spaces and trailing commas (debian/control style)', () => {
  const groups = parseRelationField('\n debhelper-compat (= 13),\n  python3:native ,\n gcc [!armel !armhf] <!stage1> <cross nocheck>,\n');
  assert.equal(groups.length, 3);
  assert.deepEqual(groups[1], [{ name: 'python3', arch: 'native' }]);
  assert.deepEqual(groups[2], [{
    name: 'gcc', archRestrictions: ['!armel', '!armhf'], buildProfiles: [['!stage1'], ['cross', 'nocheck']],
  }]);
  assert.deepEqual(parseRelationField('  '), []);
});

void test('parseRelationField rejects broken syntax', () => {
  for (const bad of ['a | , b', 'a (>= )', 'a (~ 1)', '${misc:Depends}', 'a b', '(>= 1)', 'a ||b']) {
    assert.throws(() => parseRelationField(bad), parseError(/invalid package relation/), bad);
  }
});

void test('formatRelationField writes the canonical form back', () => {
  const text = 'a (>= 1.0) | b:any, c [amd64 !i386] <!nocheck> <cross>';
  assert.equal(formatRelationField(parseRelationField(text)), text);
  assert.equal(formatRelationField(parseRelationField('a(<1)|b')), 'a (<= 1) | b');
});

void test('parseProvides keeps versions and refuses alternatives or non-= relations', () => {
  assert.deepEqual(parseProvides('mail-transport-agent, libfoo-abi-2 (= 2.1-1), perl:any'), [
    { name: 'mail-transport-agent' }, { name: 'libfoo-abi-2', version: '2.1-1' }, { name: 'perl', arch: 'any' },
  ]);
  assert.throws(() => parseProvides('a | b'), parseError(/alternatives/));
  assert.throws(() => parseProvides('a (>= 1)'), parseError(/only "="/));
});

void test('this machine\'s dpkg status: one paragraph per package dpkg-query knows, byte-exact round-trip', async () => {
  const text = readFileSync(DPKG_STATUS, 'utf8');
  const paragraphs = parseDeb822(text, { source: DPKG_STATUS });
  const { stdout } = await run(['dpkg-query', '-W', '-f=${Package}:${Architecture} ${Version}\n']);
  const expected = stdout.split('\n').filter((l) => l !== '').sort();
  const actual = paragraphs.map((p) => `${p.get('Package') ?? ''}:${p.get('Architecture') ?? ''} ${p.get('Version') ?? ''}`);
  assert.equal(paragraphs.length, expected.length);
  assert.deepEqual(actual.sort(), expected);
  assert.equal(serializeDeb822(paragraphs), text);
  for (const p of paragraphs) {
    for (const field of ['Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Breaks', 'Conflicts', 'Replaces']) {
      const value = p.get(field);
      if (value !== undefined) assert.ok(parseRelationField(value).length > 0, `${field} of ${p.get('Package') ?? ''}`);
    }
    const provides = p.get('Provides');
    if (provides !== undefined) parseProvides(provides);
  }
});

const packagesIndex = existsSync(APT_LISTS)
  ? readdirSync(APT_LISTS).filter((f) => /_Packages(\.lz4)?$/.test(f)).sort((a, b) => a.length - b.length)
    .find((f) => f.includes('security')) ?? readdirSync(APT_LISTS).find((f) => /_Packages(\.lz4)?$/.test(f))
  : undefined;

void test('an apt Packages index from this machine parses, round-trips and its relations parse', {
  skip: packagesIndex === undefined ? 'no Packages index under /var/lib/apt/lists' : false,
}, async () => {
  const file = `${APT_LISTS}/${packagesIndex ?? ''}`;
  const text = file.endsWith('.lz4') ? (await run(['lz4', '-dc', file])).stdout : readFileSync(file, 'utf8');
  const paragraphs = parseDeb822(text, { source: file });
  assert.ok(paragraphs.length > 0);
  assert.equal(paragraphs.length, text.match(/^Package:/gm)?.length);
  assert.equal(serializeDeb822(paragraphs), text);
  for (const p of paragraphs) {
    assert.ok(p.get('Version') && p.get('Architecture') && p.get('Filename'), p.get('Package'));
    for (const field of ['Depends', 'Pre-Depends', 'Recommends', 'Breaks', 'Conflicts']) {
      const value = p.get(field);
      if (value !== undefined) parseRelationField(value);
    }
    const provides = p.get('Provides');
    if (provides !== undefined) parseProvides(provides);
  }
});

const inRelease = existsSync(APT_LISTS) ? readdirSync(APT_LISTS).find((f) => f.endsWith('_InRelease')) : undefined;

void test('an InRelease file from this machine parses after stripClearsign', {
  skip: inRelease === undefined ? 'no InRelease file under /var/lib/apt/lists' : false,
}, () => {
  const text = readFileSync(`${APT_LISTS}/${inRelease ?? ''}`, 'utf8');
  const [release, ...rest] = parseDeb822(stripClearsign(text));
  assert.equal(rest.length, 0);
  assert.ok(release?.get('Suite'));
  const sha256 = release?.getLines('SHA256') ?? [];
  assert.ok(sha256.length > 0);
  for (const line of sha256) assert.match(line, /^[0-9a-f]{64}\s+\d+\s+\S+$/);
});
