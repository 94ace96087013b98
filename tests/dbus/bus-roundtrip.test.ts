/**
 * src/dbus/bus.ts against a real dbus-daemon and real clients: a test service exports the contract's three interfaces
 * (stubs, with Ping, a few properties and methods filled in) on a private system-like bus; gdbus and busctl call it,
 * introspect it and read its properties; a bus.ts client receives its signals and PropertiesChanged; the caller's uid
 * is resolved for a setpriv'd caller; errors keep their name, message and hint; a vanishing client is noticed.
 * Needs root, dbus-daemon, gdbus (libglib2.0-bin), busctl (systemd), setpriv (util-linux).
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { connectBus, type Bus, type CallContext } from '../../src/dbus/bus.js';
import { PROGRESS_DICT, RemoteObject, STATUS_DICT, contractInterface, decodeDeployment, encodeDeployment, encodeDict,
  implementInterface } from '../../src/dbus/contract.js';
import { BusError, STANDARD_ERRORS, dbusErrorName, fromBusError, isDaemonUnreachable } from '../../src/dbus/errors.js';
import { parseIntrospection, type InterfaceInfo } from '../../src/dbus/introspection.js';
import { BUS_NAME, OS_INTERFACE, SYSROOT_INTERFACE, SYSROOT_PATH, TRANSACTION_INTERFACE, osPath, transactionPath,
  type InterfaceName } from '../../src/dbus/names.js';
import type { DeploymentStatus } from '../../src/core/ops/status.js';
import { AptOstreeError } from '../../src/lib/errors.js';
import { runUnchecked } from '../../src/lib/exec.js';
import { REPO, asUser, startPrivateBus, type PrivateBus } from './private-bus.js';
import { stubImpl } from './stubs.js';

const DEPLOYMENT: DeploymentStatus = {
  id: 'debian-0123abcd.0', osname: 'debian', serial: 0, checksum: '0123abcd', version: '13.1', timestamp: 1700000000,
  booted: true, staged: false, pinned: true, rollback: false, origin: 'kit:debian/13/x86_64/kit', 'base-checksum': null,
  'requested-packages': ['htop', 'chrony'], packages: ['htop'], 'inactive-requests': ['chrony'],
  'layered-packages': [{ name: 'htop', version: '3.2.2-2' }, { name: 'libnl-3-200', version: '3.7.0-0.2' }],
  'base-removals': [], 'base-replacements': [], kargs: ['quiet', 'ostree=/ostree/boot.1/debian/x/0'], index: 0,
  'regenerate-initramfs': true, 'initramfs-args': ['--add-drivers', 'nbd'], unlocked: 'transient', 'live-inprogress': null,
  'live-replaced': '4567cdef',
};
const TX1 = transactionPath(1);
const OS = osPath('debian');

function waitFor<T>(what: string, check: () => T | undefined, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      const v = check();
      if (v !== undefined) resolve(v);
      else if (Date.now() - started > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

/** Methods, properties and signals with their types (and argument names), docs left out. */
function shape(i: InterfaceInfo): unknown {
  const args = (a: { name: string; type: string }[]): string[] => a.map((x) => `${x.type} ${x.name}`);
  return {
    methods: i.methods.map((m) => ({ name: m.name, in: args(m.in), out: args(m.out) })),
    signals: i.signals.map((s) => ({ name: s.name, args: args(s.args) })),
    properties: i.properties.map((p) => ({ name: p.name, type: p.type, access: p.access })),
  };
}

describe('bus.ts on a private system bus', () => {
  let pb: PrivateBus;
  let service: Bus;
  let client: Bus;
  const pings: (CallContext & { pidNow: number })[] = [];
  const upgrades: unknown[][] = [];
  const progress: Record<string, unknown> = { task: '' };
  let emitTx: ReturnType<Bus['exportInterface']>;
  let emitTx2: ReturnType<Bus['exportInterface']>;

  const gdbus = (method: string, path: string, args: string[] = [], user?: number) =>
    runUnchecked([...(user === undefined ? [] : asUser(user)), 'gdbus', 'call', '--system', '--dest', BUS_NAME,
      '--object-path', path, '--method', method, ...args], { env: pb.env });
  const busctl = (...args: string[]) => runUnchecked(['busctl', `--address=${pb.address}`, ...args]);

  before(async () => {
    pb = await startPrivateBus();
    service = await connectBus(pb.address);
    service.exportInterface(SYSROOT_PATH, implementInterface(SYSROOT_INTERFACE, stubImpl(SYSROOT_INTERFACE, {
      methods: {
        Ping: async (_args, call) => {
          pings.push({ ...call, pidNow: await call.pid() });
          return `test uid=${call.uid}`;
        },
        GetOS: ([name]) => {
          if (name === 'locked') {
            throw new AptOstreeError('sysroot-locked', 'the sysroot is locked by `ostree admin`', 'wait for it to finish');
          }
          return osPath(String(name));
        },
        GetStatus: () => encodeDict(STATUS_DICT, { version: '0.1.0', pid: process.pid, 'uptime-seconds': 5, clients: [],
          'active-transaction': ['upgrade', 'root', TX1], polkit: false }),
      },
      properties: {
        Path: () => '/test/sysroot',
        Booted: () => OS,
        Deployments: () => [encodeDeployment(DEPLOYMENT)],
        ActiveTransaction: () => ['upgrade', 'apt-ostree upgrade (uid 0)', TX1],
      },
    })));
    service.exportInterface(OS, implementInterface(OS_INTERFACE, stubImpl(OS_INTERFACE, {
      methods: {
        Upgrade: (args) => {
          upgrades.push(args);
          return TX1;
        },
        KernelArgs: (args) => {
          upgrades.push(args);
          return TX1;
        },
      },
      properties: { Name: () => 'debian', BootedDeployment: () => encodeDeployment(DEPLOYMENT) },
    })));
    emitTx = service.exportInterface(TX1, implementInterface(TRANSACTION_INTERFACE, stubImpl(TRANSACTION_INTERFACE, {
      methods: { Start: () => true },
      properties: { Title: () => 'upgrade', Progress: () => encodeDict(PROGRESS_DICT, progress) },
    })));
    emitTx2 = service.exportInterface(transactionPath(2), implementInterface(TRANSACTION_INTERFACE,
      stubImpl(TRANSACTION_INTERFACE)));
    assert.equal(await service.requestName(BUS_NAME, { doNotQueue: true }), 'primary-owner');
    client = await connectBus(pb.address);
  });

  after(async () => {
    await client.close();
    await service.close();
    await pb.stop();
  });

  test('gdbus calls Ping, as root and as nobody, and the daemon learns the caller uid', async () => {
    const root = await gdbus(`${SYSROOT_INTERFACE}.Ping`, SYSROOT_PATH);
    assert.equal(root.code, 0, root.stderr);
    assert.equal(root.stdout.trim(), "('test uid=0',)");
    const nobody = await gdbus(`${SYSROOT_INTERFACE}.Ping`, SYSROOT_PATH, [], 65534);
    assert.equal(nobody.code, 0, nobody.stderr);
    assert.equal(nobody.stdout.trim(), "('test uid=65534',)");
    const last = pings.at(-1);
    assert.equal(last?.uid, 65534);
    assert.match(last.sender, /^:1\.\d+$/);
    assert.equal(last.member, 'Ping');
    assert.ok(last.pidNow > 1);
  });

  test('a bundled bus.ts client authenticates as nobody (EXTERNAL) and finds the bus through the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-client-'));
    try {
      await chmod(dir, 0o755);
      const entry = join(dir, 'client.ts');
      await writeFile(entry, `import { connectBus } from '${join(REPO, 'src/dbus/bus.ts')}';
import { RemoteObject } from '${join(REPO, 'src/dbus/contract.ts')}';
import { SYSROOT_INTERFACE, SYSROOT_PATH } from '${join(REPO, 'src/dbus/names.ts')}';
const bus = await connectBus('system');
const [reply] = await new RemoteObject(bus, SYSROOT_PATH, SYSROOT_INTERFACE).call('Ping', []);
process.stdout.write(JSON.stringify({ reply, uid: await bus.connectionUid(bus.uniqueName) }));
await bus.close();\n`);
      const out = join(dir, 'client.mjs');
      const xml = await readFile(join(REPO, 'data/dbus/org.aptostree.AptOstree1.xml'), 'utf8');
      await build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20',
        define: { __APT_OSTREE_DBUS_CONTRACT__: JSON.stringify(xml) }, logLevel: 'silent',
        banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
      await chmod(out, 0o644);
      const r = await runUnchecked([...asUser(), process.execPath, out], { env: pb.env, cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { reply: 'test uid=65534', uid: 65534 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('gdbus introspect sees exactly the contract', async () => {
    for (const [path, name] of [[SYSROOT_PATH, SYSROOT_INTERFACE], [OS, OS_INTERFACE], [TX1, TRANSACTION_INTERFACE]] as
      [string, InterfaceName][]) {
      const r = await runUnchecked(['gdbus', 'introspect', '--system', '--dest', BUS_NAME, '--object-path', path, '--xml'],
        { env: pb.env });
      assert.equal(r.code, 0, r.stderr);
      const seen = parseIntrospection(r.stdout).find((i) => i.name === name);
      assert.ok(seen, `${name} at ${path}`);
      assert.deepEqual(shape(seen), shape(contractInterface(name)));
    }
    const tree = await runUnchecked(['gdbus', 'introspect', '--system', '--dest', BUS_NAME, '--object-path', '/',
      '--recurse'], { env: pb.env });
    assert.equal(tree.code, 0, tree.stderr);
    for (const p of [SYSROOT_PATH, OS, TX1]) assert.match(tree.stdout, new RegExp(`node ${p} `));
  });

  test('busctl sees the interfaces, calls Ping and reads properties', async () => {
    const ping = await busctl('call', BUS_NAME, SYSROOT_PATH, SYSROOT_INTERFACE, 'Ping');
    assert.equal(ping.code, 0, ping.stderr);
    assert.equal(ping.stdout.trim(), 's "test uid=0"');
    const path = await busctl('get-property', BUS_NAME, SYSROOT_PATH, SYSROOT_INTERFACE, 'Path');
    assert.equal(path.stdout.trim(), 's "/test/sysroot"');
    const active = await busctl('get-property', BUS_NAME, SYSROOT_PATH, SYSROOT_INTERFACE, 'ActiveTransaction');
    assert.equal(active.stdout.trim(), `(sso) "upgrade" "apt-ostree upgrade (uid 0)" "${TX1}"`);
    for (const [path, name] of [[SYSROOT_PATH, SYSROOT_INTERFACE], [OS, OS_INTERFACE], [TX1, TRANSACTION_INTERFACE]] as
      [string, InterfaceName][]) {
      const r = await busctl('introspect', '--no-pager', BUS_NAME, path, name);
      assert.equal(r.code, 0, r.stderr);
      const info = contractInterface(name);
      for (const m of [...info.methods, ...info.properties, ...info.signals]) {
        assert.match(r.stdout, new RegExp(`^\\.${m.name}\\s`, 'm'), `${name}.${m.name}`);
      }
    }
  });

  test('properties and dictionaries read back with their types', async () => {
    const sysroot = new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE);
    const all = await sysroot.getAll();
    assert.equal(all.Path, '/test/sysroot');
    assert.deepEqual(all.ActiveTransaction, ['upgrade', 'apt-ostree upgrade (uid 0)', TX1]);
    assert.ok(Array.isArray(all.Deployments));
    assert.deepEqual(decodeDeployment(all.Deployments[0]), DEPLOYMENT);
    const os = new RemoteObject(client, OS, OS_INTERFACE);
    assert.deepEqual(decodeDeployment(await os.get('BootedDeployment')), DEPLOYMENT);
    assert.equal(decodeDeployment(await os.get('RollbackDeployment')), undefined);

    const [status] = await sysroot.call('GetStatus', []);
    assert.deepEqual(status, { version: '0.1.0', pid: process.pid, 'uptime-seconds': 5, clients: [],
      'active-transaction': ['upgrade', 'root', TX1], polkit: false });
    // The types on the wire are the schema's, as another client sees them.
    const typed = await gdbus(`${SYSROOT_INTERFACE}.GetStatus`, SYSROOT_PATH);
    assert.match(typed.stdout, /'pid': <uint32 \d+>/);
    assert.match(typed.stdout, /'uptime-seconds': <uint64 5>/);
    assert.match(typed.stdout, /'clients': <@as \[\]>/);
    const deployments = await busctl('get-property', BUS_NAME, SYSROOT_PATH, SYSROOT_INTERFACE, 'Deployments');
    assert.match(deployments.stdout, /"layered-packages" a\(ss\) 2 "htop" "3\.2\.2-2"/);
    assert.match(deployments.stdout, /"timestamp" t 1700000000/);
    assert.doesNotMatch(deployments.stdout, /base-checksum/);
  });

  test('options reach the handler checked against their schema', async () => {
    const os = new RemoteObject(client, OS, OS_INTERFACE);
    assert.deepEqual(await os.call('Upgrade', [{ check: true }]), [TX1]);
    assert.deepEqual(upgrades.at(-1), [{ check: true }]);
    await os.call('KernelArgs', [['quiet'], [], [], { 'deploy-index': 1, 'append-if-missing': [] }]);
    assert.deepEqual(upgrades.at(-1), [['quiet'], [], [], { 'deploy-index': 1, 'append-if-missing': [] }]);
    assert.throws(() => encodeDict(PROGRESS_DICT, { chek: true }), /unknown dictionary key chek/);
    // The daemon checks too, for callers that do not go through the contract's encoding.
    await assert.rejects(client.call({ destination: BUS_NAME, path: OS, interface: OS_INTERFACE, member: 'Upgrade' },
      'a{sv}', [{ chek: true }]),
      (e: unknown) => e instanceof BusError && e.dbusName === STANDARD_ERRORS.invalidArgs && /chek/.test(e.message));
    const viaGdbus = await gdbus(`${OS_INTERFACE}.Upgrade`, OS, ["{'allow-downgrade': <true>}"], 65534);
    assert.equal(viaGdbus.stdout.trim(), `(objectpath '${TX1}',)`);
    assert.deepEqual(upgrades.at(-1), [{ 'allow-downgrade': true }]);
    // A caller that ignores the signature is refused before the handler runs.
    const wrong = await busctl('call', BUS_NAME, SYSROOT_PATH, SYSROOT_INTERFACE, 'GetOS', 'u', '5');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /takes \(s\), not \(u\)/);
  });

  test('errors keep their name, message and hint', async () => {
    const sysroot = new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE);
    const err = await sysroot.call('GetOS', ['locked']).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BusError);
    assert.equal(err.dbusName, dbusErrorName('sysroot-locked'));
    const e = fromBusError(err);
    assert.equal(e.code, 'sysroot-locked');
    assert.equal(e.message, 'the sysroot is locked by `ostree admin`');
    assert.equal(e.hint, 'wait for it to finish');
    assert.deepEqual(await sysroot.call('GetOS', ['fedora-coreos']), ['/org/aptostree/AptOstree1/OS/fedora_2dcoreos']);

    const viaGdbus = await gdbus(`${SYSROOT_INTERFACE}.GetOS`, SYSROOT_PATH, ['locked']);
    assert.match(viaGdbus.stderr, /GDBus\.Error:org\.aptostree\.AptOstree1\.Error\.SysrootLocked: the sysroot is locked by `ostree admin` — wait for it to finish/);
    const stub = await sysroot.call('Reload', []).then(() => undefined, (x: unknown) => x);
    assert.ok(stub instanceof BusError && stub.dbusName === dbusErrorName('internal'));
  });

  test('signals and PropertiesChanged reach a bus.ts client, from the right object only', async () => {
    const tx = new RemoteObject(client, TX1, TRANSACTION_INTERFACE);
    const got: [string, unknown[]][] = [];
    const changes: Record<string, unknown>[] = [];
    const subs = [
      await tx.onSignal((member, args) => got.push([member, args])),
      await tx.onPropertiesChanged((changed) => changes.push(changed)),
    ];
    emitTx2.emit('Message', 'from another transaction');
    emitTx.emit('TaskBegin', 'Downloading packages');
    emitTx.emit('DownloadProgress', 'Downloading packages', 1024, 4096, 512);
    progress.task = 'Downloading packages';
    progress['bytes-done'] = 1024;
    progress['bytes-total'] = 4096;
    emitTx.propertiesChanged(['Progress']);
    emitTx.emit('PercentProgress', 'Downloading packages', 25);
    emitTx.emit('TaskEnd', 'Downloading packages');
    emitTx.emit('Finished', false, 'cancelled', 'cancelled by the user — nothing was changed');
    await waitFor('Finished', () => (got.some(([m]) => m === 'Finished') ? true : undefined));
    assert.deepEqual(got, [
      ['TaskBegin', ['Downloading packages']],
      ['DownloadProgress', ['Downloading packages', 1024, 4096, 512]],
      ['PercentProgress', ['Downloading packages', 25]],
      ['TaskEnd', ['Downloading packages']],
      ['Finished', [false, 'cancelled', 'cancelled by the user — nothing was changed']],
    ]);
    await waitFor('PropertiesChanged', () => changes[0]);
    assert.deepEqual(changes, [{ Progress: { task: 'Downloading packages', 'bytes-done': 1024, 'bytes-total': 4096 } }]);
    assert.throws(() => { emitTx.emit('Finished', true); }, /takes 3 arguments/);
    for (const s of subs) await s.remove();
    emitTx.emit('Message', 'after unsubscribing');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 5);
  });

  test('a client leaving the bus is noticed', async () => {
    const leaving = await connectBus(pb.address);
    let vanished = 0;
    await service.onNameVanished(leaving.uniqueName, () => { vanished++; });
    await leaving.close();
    await waitFor('the client to vanish', () => (vanished > 0 ? true : undefined));
    let gone = 0;
    await service.onNameVanished(leaving.uniqueName, () => { gone++; });
    assert.equal(gone, 1, 'a name that is already gone is reported at once');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(vanished, 1);
  });

  test('the bus policy: anybody calls and reads, only root sets or owns', async () => {
    const read = await runUnchecked([...asUser(), 'gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path',
      SYSROOT_PATH, '--method', 'org.freedesktop.DBus.Properties.Get', SYSROOT_INTERFACE, 'Path'], { env: pb.env });
    assert.equal(read.stdout.trim(), "(<'/test/sysroot'>,)");
    const set = ['gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path', SYSROOT_PATH, '--method',
      'org.freedesktop.DBus.Properties.Set', SYSROOT_INTERFACE, 'Path', "<'/elsewhere'>"];
    const nobodySet = await runUnchecked([...asUser(), ...set], { env: pb.env });
    assert.match(nobodySet.stderr, /AccessDenied/, 'the bus refuses it');
    const rootSet = await runUnchecked(set, { env: pb.env });
    assert.match(rootSet.stderr, /PropertyReadOnly/, 'root gets through to the service, which refuses');
    assert.ok(await client.isReachable(BUS_NAME));
    assert.ok(!(await client.isReachable('org.aptostree.NoSuchService')));
    const nobodyOwn = await runUnchecked([...asUser(), 'gdbus', 'call', '--system', '--dest', 'org.freedesktop.DBus',
      '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.RequestName', BUS_NAME, '4'],
    { env: pb.env });
    assert.match(nobodyOwn.stderr, /AccessDenied/);
  });

  test('no bus, or the bus going away, is reported as such', async () => {
    const missing = await connectBus(`unix:path=${join(pb.dir, 'no-such-socket')}`).then(() => undefined,
      (e: unknown) => e);
    assert.ok(missing instanceof BusError && missing.dbusName === STANDARD_ERRORS.noServer);
    assert.ok(isDaemonUnreachable(missing));
    const noName = await client.call({ destination: 'org.aptostree.NoSuchService', path: '/', interface: 'a.b',
      member: 'C' }, '', []).then(() => undefined, (e: unknown) => e);
    assert.ok(isDaemonUnreachable(noName), String(noName));

    const watcher = await connectBus(pb.address);
    let closed = false;
    watcher.onClose(() => { closed = true; });
    await pb.stop();
    await waitFor('the connection to close', () => (closed ? true : undefined));
    assert.ok(watcher.isClosed);
  });
});
