import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyFile } from '../../../src/lib/keyfile.js';

const ORIGIN = `# written by hand
[origin]
baserefspec=kit:debian/13/x86_64/kit
custom-key=kept

[packages]
requested=htop;chrony;

[x-vendor]
anything=goes
`;

test('a round trip keeps comments, unknown groups and keys', () => {
  assert.equal(KeyFile.parse(ORIGIN).toString(), ORIGIN);
});

test('lists, set and delete', () => {
  const k = KeyFile.parse(ORIGIN);
  assert.deepEqual(k.getList('packages', 'requested'), ['htop', 'chrony']);
  k.setList('packages', 'requested', ['htop']);
  k.set('overrides', 'remove', 'nano;');
  k.delete('origin', 'custom-key');
  const text = k.toString();
  assert.match(text, /requested=htop;\n/);
  assert.match(text, /\[overrides\]\nremove=nano;\n$/);
  assert.doesNotMatch(text, /custom-key/);
  assert.match(text, /\[x-vendor\]\nanything=goes/);
});

test('new keys go to the end of their group; deleteGroup drops the group', () => {
  const k = KeyFile.parse(ORIGIN);
  k.set('origin', 'override-commit', 'abc');
  assert.match(k.toString(), /custom-key=kept\noverride-commit=abc\n\n\[packages\]/);
  k.deleteGroup('packages');
  assert.deepEqual(k.groups(), ['origin', 'x-vendor']);
});

test('values with newlines are escaped, not split', () => {
  const k = KeyFile.parse('');
  k.set('g', 'k', 'a\nb');
  assert.equal(k.toString(), '[g]\nk=a\\nb\n');
  assert.equal(KeyFile.parse(k.toString()).get('g', 'k'), 'a\nb');
});
