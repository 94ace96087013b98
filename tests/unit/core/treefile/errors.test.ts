import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { loadTreefile } from '../../../../src/core/compose/treefile/index.js';
import { AptOstreeError } from '../../../../src/lib/errors.js';
import { failure, tree } from './helpers.js';

const T = '<dir>/treefile.yaml';

test('an unknown key names the closest known one', async () => {
  const { message } = await failure({ 'treefile.yaml': 'ref: x\npackagse: [htop]\n' });
  assert.equal(message, `${T}:2:1: unknown key "packagse"; did you mean "packages"?`);
  const nested = await failure({ 'treefile.yaml': 'ref: x\nrepos:\n  - uri: default\n    suite: [trixie]\n' });
  assert.equal(nested.message, `${T}:4:5: repos[0]: unknown key "suite"; did you mean "suites"?`);
  const snake = await failure({ 'treefile.yaml': 'ref: x\nexclude_packages: [nano]\n' });
  assert.match(snake.message, /did you mean "exclude-packages"\?$/);
  const far = await failure({ 'treefile.yaml': 'ref: x\nzzzz: 1\n' });
  assert.equal(far.message, `${T}:2:1: unknown key "zzzz"`);
  assert.match(far.hint, /the keys here are include, ref, release/);
});

test('a value of the wrong type says what was expected and what was found', async () => {
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\npackages: htop\n' })).message,
    `${T}:2:11: packages: expected a list of strings, got a string ("htop")`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nrecommends: yes\n' })).message,
    `${T}:2:13: recommends: expected true or false, got a string ("yes")`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\npackages:\n' })).message,
    `${T}:2:1: packages: expected a list of strings, got an empty value`);
  assert.equal((await failure({ 'treefile.yaml': '- ref\n' })).message,
    `${T}:1:1: expected a mapping of treefile keys, got a list of 1 item`);
  assert.equal((await failure({ 'treefile.yaml': '# nothing\n' })).message, `${T}:1:1: the treefile is empty`);
  const mode = await failure({ 'files/a': '', 'treefile.yaml': 'ref: x\nadd-files:\n  - {src: files/a, dest: /a, mode: 0644}\n' });
  assert.equal(mode.message, `${T}:3:36: add-files[0].mode: expected an octal mode string like "0644", got a number (644)`);
  assert.match(mode.hint, /quote the value/);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nvariant: minbse\n' })).message,
    `${T}:2:10: variant: expected one of extract, custom, essential, apt, required, minbase, buildd, important, debootstrap, standard, got a string ("minbse"); did you mean "minbase"?`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nmetadata: {a: [1]}\n' })).message,
    `${T}:2:15: metadata.a: expected a string, number or boolean, got a list of 1 item`);
});

test('a missing ref, a missing nested key', async () => {
  assert.equal((await failure({ 'treefile.yaml': 'packages: [htop]\n' })).message, `${T}:1:1: missing required key "ref"`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nrepos:\n  - components: [main]\n' })).message,
    `${T}:3:5: repos[0]: missing required key "uri"`);
  assert.equal((await failure({ 'files/a': '', 'treefile.yaml': 'ref: x\nadd-files: [{src: files/a}]\n' })).message,
    `${T}:2:13: add-files[0]: missing required key "dest"`);
});

test('values that do not match their format', async () => {
  const cases: [string, string][] = [
    ['ref: x\npackages: [htop, Htop]\n', `${T}:2:18: packages[1]: "Htop" is not a valid Debian package name`],
    ['ref: x\npackages: [x]\n', `${T}:2:12: packages[0]: "x" is not a valid Debian package name`],
    ['ref: debian/../x\n', `${T}:1:6: ref: "debian/../x" is not a valid OSTree ref`],
    ['ref: -x\n', `${T}:1:6: ref: "-x" is not a valid OSTree ref`],
    ['ref: x\nrepos: [{uri: "ftp://h/d"}]\n', `${T}:2:15: repos[0].uri: "ftp://h/d" is not a repository URI`],
    ['ref: x\nunits: [sshd]\n', `${T}:2:9: units[0]: "sshd" is not a systemd unit name`],
    ['ref: x\ndefault-target: ssh.service\n', `${T}:2:17: default-target: "ssh.service" is not a systemd .target unit`],
    ['ref: x\nkernel-args: ["a b"]\n', `${T}:2:15: kernel-args[0]: "a b" is not a kernel argument`],
    ['ref: x\nkernel-args: [""]\n', `${T}:2:15: kernel-args[0]: "" is not a kernel argument`],
    ['ref: x\nremove-files: [usr/share/doc]\n', `${T}:2:16: remove-files[0]: "usr/share/doc" is not an absolute path in the image`],
    ['ref: x\nremove-files: [/usr/../etc]\n', `${T}:2:16: remove-files[0]: "/usr/../etc" is not an absolute path in the image`],
    ['ref: x\nadd-files: [[a]]\n', `${T}:2:13: add-files[0]: expected a [src, dest] pair, got a list of 1 item`],
    ['ref: x\nadd-files: [[a, etc/x]]\n', `${T}:2:17: add-files[0][1]: "etc/x" is not an absolute path in the image`],
    ['ref: x\ninclude: [3]\n', `${T}:2:11: include[0]: expected a path (a treefile), got a number (3)`],
    ['ref: x\nmetadata: {"": 1}\n', `${T}:2:12: metadata."": metadata keys must not be empty`],
    ['ref: x\nautomatic-version-prefix: 2026.10\n', `${T}:2:27: automatic-version-prefix: expected a string, got a number (2026.1)`],
  ];
  for (const [text, prefix] of cases) {
    const { message } = await failure({ 'treefile.yaml': text });
    assert.ok(message.startsWith(prefix), `${JSON.stringify(text)}\n  got:      ${message}\n  expected: ${prefix}…`);
  }
});

test('only the first problem in document order is reported', async () => {
  const { message } = await failure({ 'treefile.yaml': 'variant: nope\npackages: [Bad]\nbogus: 1\n' });
  assert.match(message, /treefile\.yaml:1:10: variant: /);
  const later = await failure({ 'treefile.yaml': 'units: [x]\nref: x\npackages: [Bad]\n' });
  assert.match(later.message, /treefile\.yaml:1:9: units\[0\]/);
});

test('YAML syntax errors and duplicate keys have positions', async () => {
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\npackages: [a\n' })).message,
    `${T}:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\npackages: []\nref: y\n' })).message, `${T}:3:1: duplicate key "ref"`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nrepos:\n  - uri: default\n    uri: default\n' })).message,
    `${T}:4:5: duplicate key "uri"`);
  assert.match((await failure({ 'treefile.yaml': 'ref: x\nunits: !custom [a]\n' })).message, /treefile\.yaml:2:8: YAML syntax error: Unresolved tag: !custom/);
});

test('JSON treefiles: syntax, duplicates and types, with positions', async () => {
  const J = '<dir>/treefile.json';
  const json = async (text: string): Promise<string> => (await failure({ 'treefile.json': text }, 'treefile-invalid', 'treefile.json')).message;
  assert.equal(await json('{\n  "ref": "x",\n  "ref": "y"\n}\n'), `${J}:3:3: duplicate key "ref"`);
  assert.equal(await json('{\n  "ref": "x",\n  "packages": [\n    "ok",\n    3\n  ]\n}\n'),
    `${J}:5:5: packages[1]: expected a string, got a number (3)`);
  assert.match(await json('{\n  "ref": "x",\n  "packages": ["a"\n}\n'), /^<dir>\/treefile\.json:\d+:\d+: YAML syntax error: /);
  assert.equal(await json('{"ref": "x", "packges": []}'), `${J}:1:14: unknown key "packges"; did you mean "packages"?`);
  const hint = (await failure({ 'treefile.json': '{"ref": 13}' }, 'treefile-invalid', 'treefile.json')).hint;
  assert.match(hint, /JSON string/);
});

test('host paths must exist, reported where they are written', async () => {
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nadd-files:\n  - [files/motd, /etc/motd]\n' })).message,
    `${T}:3:6: add-files[0].src: no such file: <dir>/files/motd`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\npostprocess-script: s.sh\n' })).message,
    `${T}:2:21: postprocess-script: no such file: <dir>/s.sh`);
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\nrepos: [{uri: default, signed-by: k.gpg}]\n' })).message,
    `${T}:2:35: repos[0].signed-by: no such file: <dir>/k.gpg`);
});

test('cross-key conflicts', async () => {
  assert.equal((await failure({ 'treefile.yaml': 'ref: x\npackages: [nano=7.2-1]\nexclude-packages: [nano]\n' })).message,
    `${T}:3:20: exclude-packages[0]: nano is also in packages (${T}:2:12)`);
  assert.equal((await failure({ a: '', b: '', 'treefile.yaml': 'ref: x\nadd-files: [[a, /etc/m], [b, /etc/m]]\n' })).message,
    `${T}:2:26: add-files[1]: /etc/m is already added by add-files[0] (${T}:2:13)`);
});

test('a missing treefile is treefile-not-found', async () => {
  const dir = await tree({});
  await assert.rejects(loadTreefile(join(dir, 'nope.yaml')), (err: unknown) =>
    err instanceof AptOstreeError && err.code === 'treefile-not-found' && err.message === `no treefile at ${join(dir, 'nope.yaml')}`);
  await assert.rejects(loadTreefile(dir), (err: unknown) => err instanceof AptOstreeError && err.code === 'treefile-invalid');
});
