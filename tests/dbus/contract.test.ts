/**
 * The D-Bus contract as code (src/dbus): names and path escaping, error names both ways, the introspection reader,
 * dictionaries and the deployment encoding. No bus needed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARGUMENT_DICTS, CONTRACT, CONTRACT_XML, checkDict, decodeDeployment, encodeDeployment, DEPLOYMENT_DICT }
  from '../../src/dbus/contract.js';
import { BusError, ERROR_CODES, STANDARD_ERRORS, dbusErrorName, errorCodeFromDBusName, fromBusError,
  isDaemonUnreachable, isNoAnswer, splitErrorText, toErrorReply } from '../../src/dbus/errors.js';
import { isValidInterfaceName, isValidObjectPath, parseIntrospection, splitSignature } from '../../src/dbus/introspection.js';
import { escapePathElement, osPath, osnameFromPath, transactionNumberFromPath, transactionPath, unescapePathElement }
  from '../../src/dbus/names.js';
import { parseXml } from '../../src/dbus/xml.js';
import type { DeploymentStatus } from '../../src/core/ops/status.js';
import { AptOstreeError } from '../../src/lib/errors.js';
import { REPO } from './private-bus.js';

test('osnames escape into object-path elements and back', () => {
  const cases: [string, string][] = [
    ['debian', 'debian'], ['fedora-coreos', 'fedora_2dcoreos'], ['my_os', 'my_5fos'], ['1os', '_31os'],
    ['', '_'], ['a.b', 'a_2eb'], ['ü', '_c3_bc'],
  ];
  for (const [name, element] of cases) {
    assert.equal(escapePathElement(name), element, name);
    assert.equal(unescapePathElement(element), name, element);
    assert.ok(isValidObjectPath(osPath(name)), osPath(name));
    assert.equal(osnameFromPath(osPath(name)), name);
  }
  assert.equal(osPath('fedora-coreos'), '/org/aptostree/AptOstree1/OS/fedora_2dcoreos');
  for (const bad of ['_2D', '_zz', 'a-b', '_3']) assert.equal(unescapePathElement(bad), undefined, bad);
  assert.equal(osnameFromPath('/org/aptostree/AptOstree1/Sysroot'), undefined);
  assert.equal(transactionPath(7), '/org/aptostree/AptOstree1/Transaction/7');
  assert.equal(transactionNumberFromPath(transactionPath(12)), 12);
  assert.equal(transactionNumberFromPath('/org/aptostree/AptOstree1/Transaction/01'), undefined);
  assert.throws(() => transactionPath(-1));
});

test('every ErrorCode has a D-Bus name, and the name gives the code back', () => {
  for (const code of ERROR_CODES) {
    const name = dbusErrorName(code);
    assert.ok(isValidInterfaceName(name), name);
    assert.equal(errorCodeFromDBusName(name), code);
  }
  assert.equal(dbusErrorName('sysroot-locked'), 'org.aptostree.AptOstree1.Error.SysrootLocked');
  assert.equal(errorCodeFromDBusName('org.aptostree.AptOstree1.Error.NoSuchThing'), undefined);
  assert.equal(errorCodeFromDBusName('org.freedesktop.DBus.Error.Failed'), undefined);
});

test('an error keeps its code, message and hint across the bus', () => {
  const e = new AptOstreeError('sysroot-locked', 'the sysroot is locked by `ostree admin`', 'wait for it to finish');
  const reply = toErrorReply(e);
  assert.deepEqual(reply, { name: 'org.aptostree.AptOstree1.Error.SysrootLocked',
    text: 'the sysroot is locked by `ostree admin` — wait for it to finish' });
  const back = fromBusError(new BusError(reply.name, reply.text));
  assert.equal(back.code, 'sysroot-locked');
  assert.equal(back.message, e.message);
  assert.equal(back.hint, e.hint);
  assert.equal(back.format(), e.format());

  const noHint = fromBusError(new BusError(toErrorReply(new AptOstreeError('usage', 'a — b')).name, 'a — b'));
  assert.equal(noHint.format(), 'error[usage]: a — b', 'a dash in the message moves the split, not the line');
  assert.deepEqual(splitErrorText('plain'), { message: 'plain', hint: undefined });

  // Anything else thrown by a handler is an internal error (or disk-full), never a bare Failed.
  assert.equal(toErrorReply(new Error('boom')).name, 'org.aptostree.AptOstree1.Error.Internal');
  // A refusal by polkit (or the bus policy) is access-denied, with the daemon's hint or a useful one.
  const refused = fromBusError(new BusError(STANDARD_ERRORS.accessDenied,
    'uid 1000 is not authorized for org.aptostree.AptOstree1.install-uninstall-packages — run it as root (sudo), or ask your administrator for a polkit rule'));
  assert.equal(refused.format(), 'error[access-denied]: uid 1000 is not authorized for ' +
    'org.aptostree.AptOstree1.install-uninstall-packages — run it as root (sudo), or ask your administrator for a polkit rule');
  for (const name of [STANDARD_ERRORS.accessDenied, STANDARD_ERRORS.authFailed, STANDARD_ERRORS.interactiveAuthorizationRequired]) {
    const denied = fromBusError(new BusError(name, 'uid 65534 may not install packages'));
    assert.equal(denied.code, 'access-denied', name);
    assert.match(denied.hint ?? '', /polkit rule/);
  }
  // No daemon, or one that did not start in time: an environmental failure with a code of its own, never a bug.
  const timedOut = new BusError(STANDARD_ERRORS.timedOut,
    "Failed to activate service 'org.aptostree.AptOstree1': timed out (service_start_timeout=25000ms)");
  assert.ok(isNoAnswer(timedOut));
  assert.ok(isNoAnswer(new BusError(STANDARD_ERRORS.noReply, 'x')));
  assert.ok(!isNoAnswer(new BusError(STANDARD_ERRORS.serviceUnknown, 'x')));
  for (const err of [timedOut, new BusError(STANDARD_ERRORS.noReply, 'x'), new BusError(STANDARD_ERRORS.serviceUnknown, 'x'),
    new BusError('org.freedesktop.DBus.Error.Spawn.ChildExited', 'x'), new BusError(STANDARD_ERRORS.disconnected, 'x')]) {
    const e = fromBusError(err);
    assert.equal(e.code, 'daemon-unavailable', err.dbusName);
    assert.match(e.format(), /journalctl -u apt-ostreed/);
    assert.doesNotMatch(e.format(), /bug/);
  }
  assert.equal(fromBusError(new BusError(STANDARD_ERRORS.invalidArgs, 'x')).code, 'invalid-argument');
  assert.match(fromBusError(new BusError('org.example.Odd', 'x')).message, /org\.example\.Odd/);

  assert.ok(isDaemonUnreachable(new BusError(STANDARD_ERRORS.serviceUnknown, 'x')));
  assert.ok(isDaemonUnreachable(new BusError('org.freedesktop.DBus.Error.Spawn.ExecFailed', 'x')));
  assert.ok(!isDaemonUnreachable(new BusError(dbusErrorName('sysroot-locked'), 'x')));
  assert.ok(!isDaemonUnreachable(new BusError(STANDARD_ERRORS.accessDenied, 'x')));
});

test('signatures', () => {
  assert.deepEqual(splitSignature('a{sv}asu(sso)aa{sv}'), ['a{sv}', 'as', 'u', '(sso)', 'aa{sv}']);
  assert.deepEqual(splitSignature(''), []);
  for (const bad of ['a', '{sv}', 'a{vs}', '()', '(s', 'z', 'a{s}', 'a{sss}']) {
    assert.equal(splitSignature(bad), undefined, bad);
  }
});

test('the XML reader refuses what GDBus would refuse', () => {
  const wrap = (body: string): string => `<node><interface name="a.b">${body}</interface></node>`;
  assert.equal(parseIntrospection(wrap('<method name="M"><arg type="s" direction="in"/></method>'))[0]?.methods[0]?.in[0]
    ?.type, 's');
  const bad = [
    '<node><interface name="a.b"><method name="M"></interface></node>',
    wrap('<method name="M"><arg type="ss"/></method>'),
    wrap('<method name="M"><arg type="s" direction="sideways"/></method>'),
    wrap('<method name="1M"/>'),
    wrap('<property name="P" type="s"/>'),
    wrap('<property name="P" type="s" access="rw"/>'),
    wrap('<signal name="S"><arg type="s" direction="in"/></signal>'),
    wrap('<methd name="M"/>'),
    wrap('<method name="M"/><method name="M"/>'),
    '<node><interface name="nodots"/></node>',
    '<interface name="a.b"/>',
    '<node><!-- a -- b --></node>',
    '<node a="1" a="2"/>',
    '<node>&bogus;</node>',
  ];
  for (const xml of bad) assert.throws(() => parseIntrospection(xml), Error, xml);
  assert.equal(parseXml('<?xml version="1.0"?><!DOCTYPE x PUBLIC "a" "b"><x a="&lt;&#65;&amp;"/>').attributes.a, '<A&');
});

test('the contract is the file in data/ and every a{sv} argument has a schema', async () => {
  assert.equal(CONTRACT_XML, await readFile(join(REPO, 'data/dbus/org.aptostree.AptOstree1.xml'), 'utf8'));
  const dictArgs = CONTRACT.flatMap((i) => i.methods.flatMap((m) => m.in.filter((a) => a.type === 'a{sv}')
    .map((a) => `${i.name.replace('org.aptostree.AptOstree1.', '')}.${m.name}.${a.name}`)));
  assert.deepEqual(dictArgs.sort(), Object.keys(ARGUMENT_DICTS).sort());
  for (const schema of Object.values(ARGUMENT_DICTS)) {
    for (const type of Object.values(schema)) assert.deepEqual(splitSignature(type), [type]);
  }
});

test('options are checked against their schema', () => {
  const schema = ARGUMENT_DICTS['OS.PkgChange.options'] ?? {};
  assert.deepEqual(checkDict(schema, { 'dry-run': true, cwd: '/root' }, 'PkgChange(options)'),
    { 'dry-run': true, cwd: '/root' });
  assert.throws(() => checkDict(schema, { dryrun: true }, 'PkgChange(options)'),
    (e: unknown) => e instanceof BusError && e.dbusName === STANDARD_ERRORS.invalidArgs && /dryrun/.test(e.message));
  assert.throws(() => checkDict(schema, { cwd: 3 }, 'PkgChange(options)'), BusError);
  assert.throws(() => checkDict(ARGUMENT_DICTS['OS.KernelArgs.options'] ?? {}, { 'deploy-index': -1 }, 'x'), BusError);
});

test('a deployment survives the a{sv} encoding, nulls included', () => {
  const d: DeploymentStatus = {
    id: 'debian-abc.0', osname: 'debian', serial: 0, checksum: 'abc', version: null, timestamp: 1700000000,
    booted: true, staged: false, pinned: false, rollback: false, origin: 'kit:debian/13', 'base-checksum': null,
    'requested-packages': ['htop'], packages: ['htop'], 'inactive-requests': [],
    'layered-packages': [{ name: 'htop', version: '3.2' }], 'base-removals': [], 'base-replacements': [],
    kargs: ['quiet'], index: 0, 'regenerate-initramfs': true, 'initramfs-args': ['--include', '/a', '/b'],
    unlocked: 'development', 'live-inprogress': null, 'live-replaced': 'def',
  };
  const encoded = encodeDeployment(d);
  assert.ok(!('version' in encoded) && !('base-checksum' in encoded) && !('live-inprogress' in encoded), 'null values are left out');
  assert.deepEqual(Object.keys(DEPLOYMENT_DICT).sort(), Object.keys(d).sort());
  // What a client reads: plain values (the daemon test checks this over a real bus).
  const plain = Object.fromEntries(Object.entries(encoded).map(([k, v]) => [k, v.value]));
  assert.deepEqual(decodeDeployment(plain), d);
  assert.equal(decodeDeployment({}), undefined);
});
