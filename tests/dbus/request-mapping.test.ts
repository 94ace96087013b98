/**
 * src/dbus/request-mapping.ts: every Request kind goes to a call of the contract with the right argument types and
 * comes back as the same Request; direct answers decode to the engine's result. No bus needed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Request } from '../../src/core/requests.js';
import { checkDict, CONTRACT, argumentDict } from '../../src/dbus/contract.js';
import { actionsFor } from '../../src/dbus/polkit.js';
import { OS_INTERFACE, SYSROOT_INTERFACE } from '../../src/dbus/names.js';
import { callToRequest, decodeReply, encodeReply, requestKey, requestToCall, startsTransaction, titleOf,
  TRANSACTION_METHODS } from '../../src/dbus/request-mapping.js';
import { encodeDeployment } from '../../src/dbus/contract.js';
import type { DeploymentStatus } from '../../src/core/ops/status.js';

/** At least one request of every kind, with and without options. */
const REQUESTS: Request[] = [
  { kind: 'status' }, { kind: 'status', booted: true },
  { kind: 'upgrade' }, { kind: 'upgrade', check: true }, { kind: 'upgrade', preview: true, allowDowngrade: true },
  { kind: 'deploy', revision: 'abc123' },
  { kind: 'rebase', refspec: 'origin:debian/trixie' }, { kind: 'rebase', refspec: 'debian/sid', revision: '1.2' },
  { kind: 'rollback' },
  { kind: 'kargs-show' }, { kind: 'kargs-show', deployIndex: 1 },
  { kind: 'kargs', append: ['quiet'] },
  { kind: 'kargs', append: ['a=1'], replace: ['b=2=3'], delete: ['c'], appendIfMissing: ['d'], deleteIfPresent: ['e'],
    deployIndex: 2 },
  { kind: 'kargs', set: ['root=/dev/sda', 'ro'] },
  { kind: 'cleanup' }, { kind: 'cleanup', pending: true, rollback: true, base: true, repomd: true, prune: true },
  { kind: 'pin', index: 0, unpin: false }, { kind: 'pin', index: 3, unpin: true },
  { kind: 'db-list' }, { kind: 'db-list', revision: 'abc', pattern: 'lib*' },
  { kind: 'db-diff' }, { kind: 'db-diff', from: 'a', to: 'b' },
  { kind: 'db-version' }, { kind: 'db-version', revision: 'abc' },
  { kind: 'pkg-change', install: ['htop'] },
  { kind: 'pkg-change', uninstall: ['vim'], uninstallAll: false, dryRun: true, idempotent: true, allowInactive: true,
    cwd: '/home/u' },
  { kind: 'pkg-change', install: ['./x.deb', 'jq=1.6'], uninstall: ['nano'] },
  { kind: 'pkg-change', uninstallAll: true },
  { kind: 'override', remove: ['nano'] },
  { kind: 'override', replace: ['./nano.deb'], reset: ['vim'], resetAll: true, dryRun: true, cwd: '/tmp' },
  { kind: 'override' },
  { kind: 'reset' }, { kind: 'reset', overlays: true }, { kind: 'reset', overrides: true, initramfs: true, dryRun: true },
  { kind: 'list' }, { kind: 'list', pattern: 'lib*', deployIndex: 1 },
  { kind: 'search', terms: ['editor', 'vi'] },
  { kind: 'refresh-md', force: false }, { kind: 'refresh-md', force: true },
  { kind: 'initramfs', regenerate: true }, { kind: 'initramfs', regenerate: true, args: ['--add-drivers', 'nbd'] },
  { kind: 'initramfs', regenerate: false },
  { kind: 'usroverlay' }, { kind: 'usroverlay', hotfix: true },
  { kind: 'apply-live' }, { kind: 'apply-live', allowReplacement: true },
  { kind: 'automatic-update' }, { kind: 'automatic-update', policy: 'check' }, { kind: 'automatic-update', policy: 'stage' },
];

const ALL_KINDS: Request['kind'][] = ['status', 'upgrade', 'deploy', 'rebase', 'rollback', 'kargs-show', 'kargs', 'cleanup',
  'pin', 'db-list', 'db-diff', 'db-version', 'pkg-change', 'override', 'reset', 'list', 'search', 'refresh-md', 'initramfs',
  'usroverlay', 'apply-live', 'automatic-update'];

test('the table covers every Request kind', () => {
  assert.deepEqual([...new Set(REQUESTS.map((r) => r.kind))].sort(), [...ALL_KINDS].sort());
});

test('every request maps to a call of the contract, typed as the contract says', () => {
  for (const req of REQUESTS) {
    const call = requestToCall(req);
    const iface = CONTRACT.find((i) => i.name === call.iface);
    assert.ok(iface, call.iface);
    if (call.reply === 'properties') {
      for (const p of call.properties ?? []) assert.ok(iface.properties.some((x) => x.name === p), p);
      continue;
    }
    const m = iface.methods.find((x) => x.name === call.member);
    assert.ok(m, `${call.iface}.${call.member}`);
    assert.equal(call.args.length, m.in.length, `${req.kind}: argument count`);
    m.in.forEach((a, i) => {
      const v = call.args[i];
      switch (a.type) {
        case 's': assert.equal(typeof v, 'string', `${req.kind} ${a.name}`); break;
        case 'b': assert.equal(typeof v, 'boolean', `${req.kind} ${a.name}`); break;
        case 'u': assert.ok(typeof v === 'number' && v >= 0, `${req.kind} ${a.name}`); break;
        case 'i': assert.ok(typeof v === 'number', `${req.kind} ${a.name}`); break;
        case 'as': assert.ok(Array.isArray(v), `${req.kind} ${a.name}`); break;
        case 'a{sv}': {
          const schema = argumentDict(call.iface, call.member, a.name);
          assert.ok(schema, `${call.member}.${a.name} has a schema`);
          checkDict(schema, v, `${call.member}.${a.name}`);
          break;
        }
        default: assert.fail(`unexpected type ${a.type}`);
      }
    });
    const returnsPath = m.out[0]?.type === 'o';
    assert.equal(call.reply === 'transaction', returnsPath, `${req.kind}: reply kind`);
    assert.equal(startsTransaction(call.member), returnsPath, call.member);
    // Every call has a polkit rule.
    actionsFor(call.iface, call.member, call.args);
  }
});

/** Optional booleans that are false mean the same as absent ones. */
function normalize(r: Request): unknown {
  return Object.fromEntries(Object.entries(r).filter(([k, v]) => v !== undefined && !(v === false && k !== 'unpin' && k !== 'force')));
}

test('every request round-trips through its call', () => {
  for (const req of REQUESTS) {
    const call = requestToCall(req);
    if (call.reply === 'properties') continue;
    // The daemon receives the a{sv}s as checked plain objects: the same values.
    const back = callToRequest(call.iface, call.member, call.args);
    assert.deepEqual(normalize(back), normalize(req), JSON.stringify(req));
    assert.equal(requestKey(back), requestKey(requestToCall(back).reply === call.reply ? back : req));
  }
});

test('every OS method that carries a request maps to one', () => {
  const os = CONTRACT.find((i) => i.name === OS_INTERFACE);
  assert.ok(os);
  for (const m of os.methods) {
    const args = m.in.map((a) => ({ s: '', b: false, u: 0, i: -1, as: [], 'a{sv}': {} } as Record<string, unknown>)[a.type]);
    const req = callToRequest(OS_INTERFACE, m.name, args);
    assert.ok(ALL_KINDS.includes(req.kind), m.name);
    assert.equal(TRANSACTION_METHODS.has(m.name), m.out[0]?.type === 'o', m.name);
  }
  assert.throws(() => callToRequest(SYSROOT_INTERFACE, 'Ping', []));
  assert.throws(() => callToRequest(OS_INTERFACE, 'UpdateDeployment', [{ 'override-remove': ['a'], 'reset-overlays': true }, {}]));
  assert.throws(() => callToRequest(OS_INTERFACE, 'Cleanup', [['everything'], {}]));
  assert.deepEqual(callToRequest(OS_INTERFACE, 'SetInitramfsState', [true, ['--add-drivers', 'nbd'], {}]),
    { kind: 'initramfs', regenerate: true, args: ['--add-drivers', 'nbd'] });
  assert.deepEqual(callToRequest(OS_INTERFACE, 'SetInitramfsState', [false, [], {}]), { kind: 'initramfs', regenerate: false });
  assert.deepEqual(callToRequest(OS_INTERFACE, 'AutomaticUpdateTrigger', [{}]), { kind: 'automatic-update' });
  assert.deepEqual(callToRequest(OS_INTERFACE, 'AutomaticUpdateTrigger', [{ mode: 'stage' }]), { kind: 'automatic-update', policy: 'stage' });
  assert.throws(() => callToRequest(OS_INTERFACE, 'AutomaticUpdateTrigger', [{ mode: 'apply' }]), /mode must be one of/);
  assert.deepEqual(callToRequest(OS_INTERFACE, 'UsrOverlay', [{ hotfix: true }]), { kind: 'usroverlay', hotfix: true });
  assert.deepEqual(callToRequest(OS_INTERFACE, 'ApplyLive', [{ 'allow-replacement': true }]), { kind: 'apply-live', allowReplacement: true });
});

test('identical requests have the same key, different ones not', () => {
  assert.equal(requestKey({ kind: 'pkg-change', install: ['a'], dryRun: undefined }), requestKey({ kind: 'pkg-change', install: ['a'] }));
  assert.notEqual(requestKey({ kind: 'pkg-change', install: ['a'] }), requestKey({ kind: 'pkg-change', install: ['b'] }));
  assert.equal(titleOf({ kind: 'pkg-change', install: ['htop'] }), 'install htop');
  assert.equal(titleOf({ kind: 'kargs', append: ['quiet'] }), 'kargs --append=quiet');
  for (const r of REQUESTS) assert.ok(titleOf(r).length > 0);
});

test('direct answers decode to the engine result', () => {
  const list = { packages: [{ name: 'a' }] };
  assert.deepEqual(decodeReply({ kind: 'list' }, encodeReply({ kind: 'list' }, list)), list);
  const kargsOut = encodeReply({ kind: 'kargs-show' }, ['quiet', 'ro']) as Record<string, { value: unknown }>;
  assert.deepEqual(decodeReply({ kind: 'kargs-show' }, { kargs: kargsOut.kargs?.value }), ['quiet', 'ro']);
  const d: DeploymentStatus = {
    id: 'debian-abc.0', osname: 'debian', serial: 0, checksum: 'abc', version: null, timestamp: 1, booted: false,
    staged: false, pinned: false, rollback: false, origin: null, 'base-checksum': null, 'requested-packages': [],
    packages: [], 'inactive-requests': [], 'layered-packages': [{ name: 'htop', version: '1' }], 'base-removals': [],
    'base-replacements': [], kargs: ['ro'], index: 0, 'regenerate-initramfs': false, 'initramfs-args': [], unlocked: 'none',
    'live-inprogress': null, 'live-replaced': null,
  };
  const wire = encodeDeployment(d);
  const plain = Object.fromEntries(Object.entries(wire).map(([k, v]) => [k, (v as { value: unknown }).value]));
  const report = decodeReply({ kind: 'status' }, { Deployments: [plain], ActiveTransaction: ['install htop', ':1.5 (uid 0)', '/x'] });
  assert.deepEqual(report, { deployments: [d], transaction: { title: 'install htop', initiator: ':1.5 (uid 0)' }, 'cached-update': null });
  assert.deepEqual(decodeReply({ kind: 'status' }, { Deployments: [plain], ActiveTransaction: ['', '', '/'] }, { osname: 'other' }),
    { deployments: [], transaction: null, 'cached-update': null });
  // The OS object's CachedUpdate becomes status's cached-update.
  const cached = { osname: 'debian', origin: 'kit:x', checksum: 'f'.repeat(64), version: '13.2', timestamp: 2, 'checked-at': 3, diff: null };
  const withUpdate = decodeReply({ kind: 'status' }, { Deployments: [], ActiveTransaction: ['', '', '/'],
    CachedUpdate: { result_json: JSON.stringify(cached), 'checked-at': 3 } });
  assert.deepEqual(withUpdate['cached-update'], cached);
});
