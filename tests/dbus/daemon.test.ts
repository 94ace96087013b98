/**
 * apt-ostreed on a private system-like bus, against kit sysroots: its objects match the contract, gdbus and busctl
 * drive transactions that change the sysroot exactly as the CLI does, non-root callers read but are refused
 * changes, one transaction at a time (identical requests join), idle exit and bus activation.
 * Needs root, dbus-daemon, gdbus (libglib2.0-bin), busctl (systemd), setpriv (util-linux), ostree.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectBus, type Bus } from '../../src/dbus/bus.js';
import { CONTRACT, RemoteObject } from '../../src/dbus/contract.js';
import { parseIntrospection, type InterfaceInfo } from '../../src/dbus/introspection.js';
import { BUS_NAME, OS_INTERFACE, SYSROOT_INTERFACE, SYSROOT_PATH, TRANSACTION_INTERFACE, osPath } from '../../src/dbus/names.js';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { VERSION } from '../../src/version.js';
import { getKit, type Kit } from '../kit/index.js';
import { newSysroot, removeSysroot, type TestSysroot } from '../kit/sysroot.js';
import { CLI, bootOptions, cli, cliJson, cliOk, fsckClean, snapshot } from '../system/support.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { loadSysroot } from '../../src/core/sysroot/sysroot.js';
import { REPO, asUser, startPolkitd, startPrivateBus, type PrivateBus, type RunningPolkitd } from './private-bus.js';
import { polkitAction } from '../../src/dbus/polkit.js';

const DAEMON = join(REPO, 'dist/apt-ostreed.mjs');

interface RunningDaemon {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts dist/apt-ostreed.mjs on the bus and waits until it owns its name. */
async function startDaemon(pb: PrivateBus, sysroot: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const child = spawn(process.execPath, [DAEMON, '--sysroot', sysroot, ...extra], {
    env: { ...pb.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (b: Buffer) => { log += b.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => { r(code); }));
  for (let i = 0; ; i++) {
    const r = await runUnchecked(['busctl', '--system', 'status', BUS_NAME], { env: pb.env });
    if (r.code === 0) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`apt-ostreed did not start:\n${log}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    child, exited, log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function gdbus(pb: PrivateBus, args: string[], user?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return runUnchecked([...(user === undefined ? [] : asUser(user)), 'gdbus', ...args], { env: pb.env });
}

/** `gdbus call` on the daemon. */
function gcall(pb: PrivateBus, path: string, method: string, args: string[], user?: number): ReturnType<typeof gdbus> {
  return gdbus(pb, ['call', '--system', '--dest', BUS_NAME, '--object-path', path, '--method', method, ...args], user);
}

function shape(i: InterfaceInfo): unknown {
  const args = (a: { name: string; type: string }[]): string[] => a.map((x) => `${x.type} ${x.name}`);
  return {
    methods: i.methods.map((m) => ({ name: m.name, in: args(m.in), out: args(m.out) })),
    signals: i.signals.map((s) => ({ name: s.name, args: args(s.args) })),
    properties: i.properties.map((p) => ({ name: p.name, type: p.type, access: p.access })),
  };
}

interface Finished {
  success: boolean;
  code: string;
  message: string;
  signals: { member: string; args: unknown[] }[];
}

/** Subscribes to a transaction's signals, starts it, waits for Finished. */
async function runTransaction(bus: Bus, path: string, timeoutMs = 120_000): Promise<Finished> {
  const tx = new RemoteObject(bus, path, TRANSACTION_INTERFACE);
  const signals: { member: string; args: unknown[] }[] = [];
  let done: ((f: Finished) => void) | undefined;
  const finished = new Promise<Finished>((r) => { done = r; });
  const sub = await tx.onSignal((member, args) => {
    signals.push({ member, args });
    if (member === 'Finished') done?.({ success: args[0] === true, code: String(args[1]), message: String(args[2]), signals });
  });
  try {
    const [started] = await tx.call('Start', []);
    assert.equal(started, true);
    const timer = setTimeout(() => { done?.({ success: false, code: 'test-timeout', message: '', signals }); }, timeoutMs);
    const f = await finished;
    clearTimeout(timer);
    return f;
  } finally {
    await sub.remove();
  }
}

/** The object path in gdbus's answer `(objectpath '/org/…',)`. */
function pathOf(stdout: string): string {
  const m = /objectpath '([^']+)'/.exec(stdout);
  if (!m?.[1]) throw new Error(`no object path in ${stdout}`);
  return m[1];
}

describe('apt-ostreed', () => {
  let kit: Kit;
  let pb: PrivateBus;
  let sysroot: TestSysroot;
  let daemon: RunningDaemon;
  let client: Bus;
  let configDir: string;
  const OS = (): string => osPath(sysroot.osname);

  before(async () => {
    await run([process.execPath, 'build.mjs'], { cwd: REPO });
    kit = await getKit();
    pb = await startPrivateBus();
    sysroot = await newSysroot(kit);
    configDir = await mkdtemp(join(tmpdir(), 'apt-ostreed-conf-'));
    await writeFile(join(configDir, 'apt-ostreed.conf'), '[Daemon]\nIdleExitTimeout=0\n');
    daemon = await startDaemon(pb, sysroot.path, [], {
      APT_OSTREED_CONFIG: join(configDir, 'apt-ostreed.conf'), APT_OSTREED_ORPHAN_GRACE: '3',
    });
    client = await connectBus(pb.address);
  });

  after(async () => {
    await client.close();
    await daemon.stop();
    await pb.stop();
    await removeSysroot(sysroot.path);
    await rm(configDir, { recursive: true, force: true });
  });

  test('introspection of every object matches the contract XML', async () => {
    const expected = (name: string): unknown => {
      const i = CONTRACT.find((x) => x.name === name);
      assert.ok(i);
      return shape(i);
    };
    const r = await gdbus(pb, ['introspect', '--system', '--xml', '--dest', BUS_NAME, '--object-path', SYSROOT_PATH]);
    assert.equal(r.code, 0, r.stderr);
    const sys = parseIntrospection(r.stdout).find((i) => i.name === SYSROOT_INTERFACE);
    assert.ok(sys, r.stdout);
    assert.deepEqual(shape(sys), expected(SYSROOT_INTERFACE));
    const r2 = await gdbus(pb, ['introspect', '--system', '--xml', '--dest', BUS_NAME, '--object-path', OS()]);
    assert.equal(r2.code, 0, r2.stderr);
    const os = parseIntrospection(r2.stdout).find((i) => i.name === OS_INTERFACE);
    assert.ok(os, r2.stdout);
    assert.deepEqual(shape(os), expected(OS_INTERFACE));
  });

  test('Ping, GetOS, properties and GetStatus', async () => {
    const ping = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.Ping`, []);
    assert.equal(ping.code, 0, ping.stderr);
    assert.equal(ping.stdout.trim(), `('${VERSION}',)`);
    const getOs = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.GetOS`, ['']);
    assert.equal(pathOf(getOs.stdout), OS());
    const unknown = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.GetOS`, ['nope']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /org\.aptostree\.AptOstree1\.Error\.UnknownOs/);
    const sys = new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE);
    assert.equal(await sys.get('Path'), sysroot.path);
    assert.equal(await sys.get('Booted'), '/');
    const deployments = await sys.get('Deployments') as Record<string, unknown>[];
    const status = await cliJson<{ deployments: { checksum: string; kargs: string[] }[] }>(sysroot.path, ['status']);
    assert.equal(deployments.length, status.deployments.length);
    assert.equal(deployments[0]?.checksum, sysroot.commit);
    assert.deepEqual(await sys.get('ActiveTransaction'), ['', '', '/']);
    const [st] = await sys.call('GetStatus', []) as [Record<string, unknown>];
    assert.equal(st.version, VERSION);
    assert.equal(st.sysroot, sysroot.path);
    assert.equal(st['idle-exit-timeout'], 0);
  });

  test('a KernelArgs transaction started with gdbus changes the sysroot as `apt-ostree kargs` does', async () => {
    const twin = await newSysroot(kit);
    try {
      const call = await gcall(pb, OS(), `${OS_INTERFACE}.KernelArgs`, ["['quiet', 'x=1']", '[]', "['console=ttyS0']", '{}']);
      assert.equal(call.code, 0, call.stderr);
      const f = await runTransaction(client, pathOf(call.stdout));
      assert.deepEqual([f.success, f.code], [true, ''], f.message);
      const outcome = await new RemoteObject(client, pathOf(call.stdout), TRANSACTION_INTERFACE).get('Outcome') as Record<string, unknown>;
      assert.equal(outcome.success, true);
      await cliOk(twin.path, ['kargs', '--append=quiet', '--append=x=1', '--delete=console=ttyS0']);
      const kargsOf = async (p: string): Promise<unknown> =>
        (await cliJson<{ deployments: { kargs: string[] }[] }>(p, ['status'])).deployments.map((d) => d.kargs);
      assert.deepEqual(await kargsOf(sysroot.path), await kargsOf(twin.path));
      assert.equal((JSON.parse(String(outcome.result_json)) as { changed: boolean }).changed, true);
      // The daemon reloaded: its Deployments show the new arguments.
      const ds = await new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE).get('Deployments') as { kargs: string[] }[];
      assert.ok(ds[0]?.kargs.includes('quiet'));
    } finally {
      await removeSysroot(twin.path);
    }
  });

  test('busctl starts a Rollback transaction; a failure carries its error code in Finished', async () => {
    const before = await snapshot(sysroot.path);
    const r = await runUnchecked(['busctl', '--system', 'call', BUS_NAME, OS(), OS_INTERFACE, 'Rollback', 'a{sv}', '0'], { env: pb.env });
    assert.equal(r.code, 0, r.stderr);
    const path = /^o "([^"]+)"/.exec(r.stdout.trim())?.[1];
    assert.ok(path, r.stdout);
    const f = await runTransaction(client, path);
    // After the kargs test the sysroot has two deployments: the previous one becomes the default.
    assert.deepEqual([f.success, f.code], [true, ''], f.message);
    const after = await cliJson<{ deployments: { checksum: string; kargs: string[] }[] }>(sysroot.path, ['status']);
    assert.ok(!after.deployments[0]?.kargs.includes('quiet'), 'the deployment without the new kargs is the default');
    assert.notEqual(await snapshot(sysroot.path), before);
    // A request the engine refuses carries its error code in Finished.
    const bad = await runUnchecked(['busctl', '--system', 'call', BUS_NAME, OS(), OS_INTERFACE, 'Deploy', 'sa{sv}',
      'no-such-revision', '0'], { env: pb.env });
    assert.equal(bad.code, 0, bad.stderr);
    const failed = await runTransaction(client, /^o "([^"]+)"/.exec(bad.stdout.trim())?.[1] ?? '');
    assert.equal(failed.success, false);
    assert.equal(failed.code, 'unknown-revision', failed.message);
  });

  test('non-root callers read properties but are refused changes (no polkit on the bus)', async () => {
    const ping = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.Ping`, [], 65534);
    assert.equal(ping.code, 0, ping.stderr);
    const get = await gdbus(pb, ['call', '--system', '--dest', BUS_NAME, '--object-path', SYSROOT_PATH, '--method',
      'org.freedesktop.DBus.Properties.Get', `'${SYSROOT_INTERFACE}'`, "'Path'"], 65534);
    assert.equal(get.code, 0, get.stderr);
    const kargs = await gcall(pb, OS(), `${OS_INTERFACE}.GetDeploymentBootConfig`, ['int32 -1'], 65534);
    assert.equal(kargs.code, 0, kargs.stderr);
    const before = await snapshot(sysroot.path);
    const refused = await gcall(pb, OS(), `${OS_INTERFACE}.KernelArgs`, ["['evil']", '[]', '[]', '{}'], 65534);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /AccessDenied/);
    const reload = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.Reload`, [], 65534);
    assert.match(reload.stderr, /AccessDenied/);
    // install, upgrade, rollback, cleanup: each refused the same way.
    for (const [member, args] of [
      ['PkgChange', ["['kit-app']", '[]', '{}']],
      ['Upgrade', ['{}']],
      ['Rollback', ['{}']],
      ['Cleanup', ["['rollback-deploy']", '{}']],
    ] as const) {
      const r = await gcall(pb, OS(), `${OS_INTERFACE}.${member}`, [...args], 65534);
      assert.notEqual(r.code, 0, member);
      assert.match(r.stderr, /AccessDenied/, `${member}: ${r.stderr}`);
    }
    assert.equal(await snapshot(sysroot.path), before);
  });

  test('the CLI of a non-root user reports a refusal as error[access-denied], with the daemon\'s hint', async () => {
    const before = await snapshot(sysroot.path);
    const r = await runUnchecked([...asUser(), process.execPath, CLI, '--sysroot', sysroot.path, 'kargs', '--append=evil=1'],
      { env: pb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim(), 'error[access-denied]: KernelArgs needs root: polkit is not available to authorize uid 65534 ' +
      '— run it as root (sudo), or install and start polkitd');
    assert.equal(await snapshot(sysroot.path), before);
  });

  test('one transaction at a time: a different request names the running one, an identical one joins', async () => {
    const os = new RemoteObject(client, OS(), OS_INTERFACE);
    const [first] = await os.call('KernelArgs', [['a=1'], [], [], {}]) as [string];
    const same = await gcall(pb, OS(), `${OS_INTERFACE}.KernelArgs`, ["['a=1']", '[]', '[]', '{}']);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(pathOf(same.stdout), first);
    const other = await gcall(pb, OS(), `${OS_INTERFACE}.KernelArgs`, ["['b=2']", '[]', '[]', '{}']);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /org\.aptostree\.AptOstree1\.Error\.TransactionInProgress/);
    assert.match(other.stderr, /transaction in progress: kargs --append=a=1 \(started by .*uid 0\).*apt-ostree cancel/);
    const active = await new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE).get('ActiveTransaction');
    assert.deepEqual((active as unknown[])[2], first);
    const f = await runTransaction(client, first);
    assert.equal(f.success, true, f.message);
    // The joined client's Start answers false now.
    const [again] = await new RemoteObject(client, first, TRANSACTION_INTERFACE).call('Start', []);
    assert.equal(again, false);
    // And the next request is served.
    const [next] = await os.call('KernelArgs', [[], [], ['a=1'], {}]) as [string];
    assert.notEqual(next, first);
    assert.equal((await runTransaction(client, next)).success, true);
  });

  test('a transaction whose client leaves before Start is dropped; Cancel before Start ends it cancelled', async () => {
    const other = await connectBus(pb.address);
    const [path] = await new RemoteObject(other, OS(), OS_INTERFACE).call('KernelArgs', [['z=9'], [], [], {}]) as [string];
    await other.close();
    const sys = new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE);
    for (let i = 0; i < 200 && (await sys.get('ActiveTransaction') as unknown[])[2] === path; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await sys.get('ActiveTransaction'), ['', '', '/']);
    const [p2] = await new RemoteObject(client, OS(), OS_INTERFACE).call('KernelArgs', [['z=9'], [], [], {}]) as [string];
    const tx = new RemoteObject(client, p2, TRANSACTION_INTERFACE);
    await tx.call('Cancel', []);
    const outcome = await tx.get('Outcome') as Record<string, unknown>;
    assert.equal(outcome.success, false);
    assert.equal(outcome['error-code'], 'cancelled');
  });
  test('ReloadConfig re-reads apt-ostreed.conf: AutomaticUpdatePolicy, and LockLayering refuses layering even for root', async () => {
    const conf = join(configDir, 'apt-ostreed.conf');
    const sys = new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE);
    try {
      await writeFile(conf, '[Daemon]\nIdleExitTimeout=0\nAutomaticUpdatePolicy=check\nLockLayering=true\n');
      await sys.call('ReloadConfig', []);
      assert.equal(await sys.get('AutomaticUpdatePolicy'), 'check');
      const locked = await gcall(pb, OS(), `${OS_INTERFACE}.PkgChange`, ["['kit-app']", '@as []', '{}']);
      assert.notEqual(locked.code, 0);
      assert.match(locked.stderr, /AccessDenied.*LockLayering/);
      const other = await gcall(pb, OS(), `${OS_INTERFACE}.KernelArgs`, ["['still-allowed']", '[]', '[]', '{}']);
      assert.equal(other.code, 0, other.stderr);
      assert.equal((await runTransaction(client, pathOf(other.stdout))).success, true);
    } finally {
      await writeFile(conf, '[Daemon]\nIdleExitTimeout=0\n');
      await sys.call('ReloadConfig', []);
    }
    assert.equal(await sys.get('AutomaticUpdatePolicy'), 'none');
  });
});

describe('apt-ostreed layering transactions', () => {
  let kit: Kit;
  let server: ServedDirectory;
  let pb: PrivateBus;
  let sysroot: string;
  let daemon: RunningDaemon;
  let client: Bus;
  let configDir: string;
  const OS = (): string => osPath(kit.osname);
  const env = (): NodeJS.ProcessEnv => ({ APT_OSTREED_CONFIG: join(configDir, 'apt-ostreed.conf'), APT_OSTREED_ORPHAN_GRACE: '3' });

  before(async () => {
    await run([process.execPath, 'build.mjs'], { cwd: REPO });
    kit = await getKit();
    server = await serveDirectory(kit.dir);
    pb = await startPrivateBus();
    sysroot = (await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive` })).path;
    const d = (await loadSysroot(sysroot)).deployments[0];
    assert.ok(d);
    await mkdir(join(d.path, 'etc/apt/sources.list.d'), { recursive: true });
    await writeFile(join(d.path, 'etc/apt/sources.list.d/kit.list'), `${kit.aptSourcesLine(`${server.url}/apt`)}\n`);
    configDir = await mkdtemp(join(tmpdir(), 'apt-ostreed-conf-'));
    await writeFile(join(configDir, 'apt-ostreed.conf'), '[Daemon]\nIdleExitTimeout=0\n');
    daemon = await startDaemon(pb, sysroot, [], env());
    client = await connectBus(pb.address);
  });

  after(async () => {
    await client.close();
    await daemon.stop();
    await pb.stop();
    await server.close();
    await removeSysroot(sysroot);
    await rm(configDir, { recursive: true, force: true });
  });

  const install = async (pkgs: string[]): Promise<string> =>
    (await new RemoteObject(client, OS(), OS_INTERFACE).call('PkgChange', [pkgs, [], {}]) as [string])[0];

  test('install emits TaskBegin/TaskEnd and DownloadProgress with totals; Finished carries the result', async () => {
    const f = await runTransaction(client, await install(['kit-app']));
    assert.deepEqual([f.success, f.code], [true, ''], f.message);
    const begins = f.signals.filter((s) => s.member === 'TaskBegin').map((s) => s.args[0]);
    const ends = f.signals.filter((s) => s.member === 'TaskEnd').map((s) => s.args[0]);
    assert.ok(begins.length > 0);
    assert.deepEqual([...begins].sort(), [...ends].sort());
    const downloads = f.signals.filter((s) => s.member === 'DownloadProgress');
    assert.ok(downloads.length > 0, 'DownloadProgress signals');
    assert.ok(downloads.some((s) => Number(s.args[2]) > 0 && Number(s.args[1]) === Number(s.args[2])), 'a download reached its total');
    const status = await cliJson<{ deployments: { 'requested-packages': string[] }[] }>(sysroot, ['status']);
    assert.ok(status.deployments[0]?.['requested-packages'].includes('kit-app'));
    await fsckClean(sysroot);
  });

  test('a failing request ends with Finished(false, code) and changes nothing', async () => {
    const before = await snapshot(sysroot);
    const path = await install(['kit-failing']);
    const f = await runTransaction(client, path);
    assert.equal(f.success, false);
    assert.equal(f.code, 'dpkg-failed', f.message);
    const outcome = await new RemoteObject(client, path, TRANSACTION_INTERFACE).get('Outcome') as Record<string, unknown>;
    assert.equal(outcome['error-code'], f.code);
    assert.equal(await snapshot(sysroot), before);
  });

  test('Cancel during a slow dpkg run: Finished(false, cancelled), nothing left, the next transaction works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slow-deb-'));
    const root = join(dir, 'root');
    await mkdir(join(root, 'DEBIAN'), { recursive: true });
    await writeFile(join(root, 'DEBIAN/control'), 'Package: kit-slow\nVersion: 1.0-1\nArchitecture: all\nMaintainer: kit <kit@example.invalid>\nDescription: a slow postinst\n');
    await writeFile(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nsleep 120\n');
    await chmod(join(root, 'DEBIAN/postinst'), 0o755);
    await run(['dpkg-deb', '--build', '--root-owner-group', root, join(dir, 'kit-slow.deb')]);
    try {
      const before = await snapshot(sysroot);
      const path = await install([join(dir, 'kit-slow.deb')]);
      const tx = new RemoteObject(client, path, TRANSACTION_INTERFACE);
      let cancelled = false;
      const sub = await tx.onSignal((_member, args) => {
        if (!cancelled && args.some((a) => typeof a === 'string' && /Configuring|postinst|kit-slow/.test(a))) {
          cancelled = true;
          setTimeout(() => { void tx.call('Cancel', []); }, 300);
        }
      });
      const started = Date.now();
      const f = await runTransaction(client, path);
      await sub.remove();
      assert.ok(cancelled, 'saw the configure step');
      assert.deepEqual([f.success, f.code], [false, 'cancelled'], f.message);
      assert.ok(Date.now() - started < 60_000, 'cancelled within seconds');
      assert.equal(await snapshot(sysroot), before);
      const ps = await run(['ps', '-eo', 'args']);
      assert.ok(!ps.stdout.includes('sleep 120'), 'the postinst is stopped');
      assert.deepEqual((await readdir(join(sysroot, 'ostree/deploy', kit.osname, 'var/tmp')).catch(() => []))
        .filter((n) => n.startsWith('apt-ostree-layer-')), [], 'no work tree left');
      await fsckClean(sysroot);
      const next = await runTransaction(client, (await new RemoteObject(client, OS(), OS_INTERFACE)
        .call('KernelArgs', [['after-cancel'], [], [], {}]) as [string])[0]);
      assert.equal(next.success, true, next.message);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test('kill -9 of the daemon during a layering transaction: fsck clean, old or new deployments, next one works', async () => {
    for (const [pkg, delayMs] of [['kit-predep', 400], ['kit-mailer', 1500]] as const) {
      const deploymentsBefore = (await loadSysroot(sysroot)).deployments.map((d) => d.checksum);
      const path = await install([pkg]);
      const tx = new RemoteObject(client, path, TRANSACTION_INTERFACE);
      let finished = false;
      const sub = await tx.onSignal((member) => { if (member === 'Finished') finished = true; });
      await tx.call('Start', []);
      await new Promise((r) => setTimeout(r, delayMs));
      assert.equal(finished, false, 'killed while the transaction runs');
      daemon.child.kill('SIGKILL');
      await sub.remove();
      await daemon.exited;
      // Whatever the daemon ran (apt, dpkg, ostree) ends with it or finishes; give it a moment.
      await new Promise((r) => setTimeout(r, 500));
      await fsckClean(sysroot);
      const after = (await loadSysroot(sysroot)).deployments.map((d) => d.checksum);
      assert.ok(JSON.stringify(after) === JSON.stringify(deploymentsBefore) || after[1] === deploymentsBefore[0],
        `deployments before ${JSON.stringify(deploymentsBefore)}, after ${JSON.stringify(after)}`);
      daemon = await startDaemon(pb, sysroot, [], env());
      // The new daemon removed the work tree the killed one left.
      assert.deepEqual((await readdir(join(sysroot, 'ostree/deploy', kit.osname, 'var/tmp')).catch(() => []))
        .filter((n) => n.startsWith('apt-ostree-layer-')), [], 'no work tree left');
      const os = new RemoteObject(client, OS(), OS_INTERFACE);
      const [k] = await os.call('KernelArgs', [[`after-kill-${delayMs}`], [], [], {}]) as [string];
      const f = await runTransaction(client, k);
      assert.equal(f.success, true, f.message);
    }
  });
});

describe('apt-ostreed with polkit', () => {
  let kit: Kit;
  let pb: PrivateBus;
  let polkitd: RunningPolkitd;
  let sysroot: TestSysroot;
  let daemon: RunningDaemon;
  let client: Bus;
  let configDir: string;

  before(async () => {
    await run([process.execPath, 'build.mjs'], { cwd: REPO });
    kit = await getKit();
    pb = await startPrivateBus();
    polkitd = await startPolkitd(pb, {
      '60-apt-ostree-test.rules': `polkit.addRule(function(action, subject) {
    if (action.id == "${polkitAction('bootconfig')}" && subject.user == "nobody") return polkit.Result.YES;
});
`,
    });
    sysroot = await newSysroot(kit);
    configDir = await mkdtemp(join(tmpdir(), 'apt-ostreed-conf-'));
    await writeFile(join(configDir, 'apt-ostreed.conf'), '[Daemon]\nIdleExitTimeout=0\n');
    daemon = await startDaemon(pb, sysroot.path, [], { APT_OSTREED_CONFIG: join(configDir, 'apt-ostreed.conf'), APT_OSTREED_ORPHAN_GRACE: '5' });
    client = await connectBus(pb.address);
  });

  after(async () => {
    await client.close();
    await daemon.stop();
    await polkitd.stop();
    await pb.stop();
    await removeSysroot(sysroot.path);
    await rm(configDir, { recursive: true, force: true });
  });

  test('a uid granted an action by a polkit rule may call its method; other actions stay refused', async () => {
    const OS = osPath(sysroot.osname);
    const granted = await gcall(pb, OS, `${OS_INTERFACE}.KernelArgs`, ["['by-nobody']", '[]', '[]', '{}'], 65534);
    assert.equal(granted.code, 0, granted.stderr);
    const f = await runTransaction(client, pathOf(granted.stdout));
    assert.equal(f.success, true, f.message);
    const ds = await new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE).get('Deployments') as { kargs: string[] }[];
    assert.ok(ds[0]?.kargs.includes('by-nobody'));
    const refused = await gcall(pb, OS, `${OS_INTERFACE}.Rollback`, ['{}'], 65534);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /AccessDenied/);
    const [st] = await new RemoteObject(client, SYSROOT_PATH, SYSROOT_INTERFACE).call('GetStatus', []) as [Record<string, unknown>];
    assert.equal(st.polkit, true);
  });

  test('through the CLI: the granted change succeeds; a refusal by polkit is error[access-denied], not not-root', async () => {
    const asNobody = (args: string[]): ReturnType<typeof runUnchecked> =>
      runUnchecked([...asUser(), process.execPath, CLI, '--sysroot', sysroot.path, ...args], { env: pb.env });
    const granted = await asNobody(['kargs', '--append=cli-nobody=1']);
    assert.equal(granted.code, 0, granted.stderr);
    assert.ok(!granted.stderr.includes('note:'), granted.stderr);
    const before = await snapshot(sysroot.path);
    const refused = await asNobody(['rollback']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(refused.stderr.trim(), `error[access-denied]: uid 65534 is not authorized for ${polkitAction('rollback')} ` +
      '— run it as root (sudo), or ask your administrator for a polkit rule');
    assert.equal(await snapshot(sysroot.path), before);
  });
});

describe('apt-ostreed idle exit and bus activation', () => {
  let kit: Kit;
  let pb: PrivateBus;
  let sysroot: TestSysroot;

  before(async () => {
    await run([process.execPath, 'build.mjs'], { cwd: REPO });
    kit = await getKit();
    sysroot = await newSysroot(kit);
    pb = await startPrivateBus({
      services: {
        'org.aptostree.AptOstree1.service': `[D-BUS Service]\nName=${BUS_NAME}\nExec=${process.execPath} ${DAEMON} --sysroot ${sysroot.path} --idle-exit 2\nUser=root\n`,
      },
    });
  });

  after(async () => {
    // An activated daemon still running stops with the bus.
    await pb.stop();
    await removeSysroot(sysroot.path);
  });

  const owned = async (): Promise<boolean> =>
    (await runUnchecked(['busctl', '--system', 'status', BUS_NAME], { env: pb.env })).code === 0;
  async function waitUntil(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
    const start = Date.now();
    while (!(await check())) {
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const pid = async (): Promise<number> => {
    const r = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.GetStatus`, []);
    assert.equal(r.code, 0, r.stderr);
    const m = /'pid': <uint32 (\d+)>/.exec(r.stdout);
    assert.ok(m?.[1], r.stdout);
    return Number(m[1]);
  };

  test('the bus starts the daemon on the first call; it exits when idle; the next call starts it again', async () => {
    assert.equal(await owned(), false);
    const ping = await gcall(pb, SYSROOT_PATH, `${SYSROOT_INTERFACE}.Ping`, []);
    assert.equal(ping.code, 0, ping.stderr);
    assert.equal(ping.stdout.trim(), `('${VERSION}',)`);
    const first = await pid();
    await waitUntil('idle exit', async () => !(await owned()), 10_000);
    const second = await pid();
    assert.notEqual(second, first);
    await waitUntil('idle exit', async () => !(await owned()), 10_000);
  });

  test('a registered client keeps it running until it unregisters', async () => {
    const c = await connectBus(pb.address);
    try {
      const sys = new RemoteObject(c, SYSROOT_PATH, SYSROOT_INTERFACE);
      await sys.call('RegisterClient', [{ id: 'daemon-test' }]);
      await new Promise((r) => setTimeout(r, 3500));
      assert.equal(await owned(), true);
      const [st] = await sys.call('GetStatus', []) as [Record<string, unknown>];
      assert.deepEqual(st.clients, ['daemon-test']);
      await sys.call('UnregisterClient', [{}]);
      await waitUntil('idle exit', async () => !(await owned()), 10_000);
    } finally {
      await c.close();
    }
  });
});

describe('a daemon slower to start than the bus waits (service_start_timeout)', () => {
  // dbus-daemon gives a service service_start_timeout (25 s by default; 1 s here) to take its name, then answers
  // TimedOut and kills what it spawned; under systemd the unit goes on starting and apt-ostreed comes up late. The
  // slow service emulates that: its first start runs the real daemon 3 s later in the background (out of the bus's
  // reach), every later start just sleeps until the bus kills it. The dead service never comes up.
  const WAIT_ENV = 'APT_OSTREE_DAEMON_START_TIMEOUT';
  const WAITING = 'Waiting for apt-ostreed to start…';
  const NOTICE = 'note: apt-ostreed is not reachable; running in-process';
  const LIMIT = '<limit name="service_start_timeout">1000</limit>';
  let kit: Kit;
  let slow: PrivateBus;
  let dead: PrivateBus;
  let sysroot: TestSysroot;
  let dir: string;

  before(async () => {
    await run([process.execPath, 'build.mjs'], { cwd: REPO });
    kit = await getKit();
    sysroot = await newSysroot(kit);
    dir = await mkdtemp(join(tmpdir(), 'apt-ostreed-slow-'));
    const wrapper = join(dir, 'slow-apt-ostreed');
    await writeFile(wrapper, `#!/bin/sh
if mkdir ${dir}/started 2>/dev/null; then
  (sleep 3; exec ${process.execPath} ${DAEMON} --sysroot ${sysroot.path} --idle-exit 0) &
fi
exec sleep 20
`);
    await chmod(wrapper, 0o755);
    const service = (exec: string): Record<string, string> => ({
      'org.aptostree.AptOstree1.service': `[D-BUS Service]\nName=${BUS_NAME}\nExec=${exec}\nUser=root\n`,
    });
    slow = await startPrivateBus({ services: service(wrapper), extraConfig: LIMIT });
    dead = await startPrivateBus({ services: service('/bin/sleep 20'), extraConfig: LIMIT });
  });

  after(async () => {
    // The daemon started late stops with its bus.
    await slow.stop();
    await dead.stop();
    await removeSysroot(sysroot.path);
    await rm(dir, { recursive: true, force: true });
  });

  test('the client waits for it with one line on stderr, then goes through it', async () => {
    const start = Date.now();
    const r = await cli(sysroot.path, ['kargs', '--append=slow=1'], { ...slow.env, [WAIT_ENV]: '60' });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    assert.deepEqual(lines.filter((l) => l === WAITING), [WAITING], r.stderr);
    assert.ok(!lines.includes(NOTICE), `served by the daemon, not in-process: ${r.stderr}`);
    assert.ok((await bootOptions(sysroot.path))[0]!.includes('slow=1'));
    assert.equal((await runUnchecked(['busctl', '--system', 'status', BUS_NAME], { env: slow.env })).code, 0);
    assert.ok(Date.now() - start < 60_000);
    // Running now: the next command gets its answer at once.
    const ping = await cli(sysroot.path, ['daemon-ping'], slow.env);
    assert.equal(ping.code, 0, ping.stderr);
    assert.equal(ping.stderr, '');
  });

  test('one that never comes up: a clear error after the bounded wait, or the in-process fallback for root', async () => {
    const env = { ...dead.env, [WAIT_ENV]: '3' };
    const before = await snapshot(sysroot.path);
    const start = Date.now();
    const r = await runUnchecked([...asUser(), process.execPath, CLI, '--sysroot', sysroot.path, 'kargs', '--append=x=1'],
      { env });
    const elapsed = Date.now() - start;
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines[0], WAITING);
    assert.equal(lines.at(-1), 'error[daemon-unavailable]: apt-ostreed did not start: no answer 3 s after the bus gave up ' +
      "(Failed to activate service 'org.aptostree.AptOstree1': timed out (service_start_timeout=1000ms)) " +
      '— see `systemctl status apt-ostreed` and `journalctl -u apt-ostreed`, or run the command as root');
    assert.ok(elapsed < 20_000, `${elapsed} ms`);
    assert.equal(await snapshot(sysroot.path), before);

    const ping = await cli(sysroot.path, ['daemon-ping'], env);
    assert.equal(ping.code, 1);
    assert.match(ping.stderr, /^error\[daemon-unavailable\]: apt-ostreed did not start: .* — see `systemctl status apt-ostreed`/m);

    // Root: nothing reached the daemon, so the change runs in-process, with the usual notice.
    const root = await cli(sysroot.path, ['kargs', '--append=fallback=1'], env);
    assert.equal(root.code, 0, root.stderr);
    assert.deepEqual(root.stderr.split('\n').filter((l) => l === WAITING || l === NOTICE), [WAITING, NOTICE]);
    assert.ok((await bootOptions(sysroot.path))[0]!.includes('fallback=1'));
  });
});
