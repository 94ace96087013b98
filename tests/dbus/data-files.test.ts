/**
 * The files in data/ that the package installs: the bus policy loads in a real dbus-daemon and does what it says, the
 * activation file is read by it, the contract XML has every member of issues 4 and 6, the polkit actions file is well
 * formed and declares exactly the actions src/dbus/polkit.ts uses, the systemd units (the daemon, the automatic
 * update service and timer) pass `systemd-analyze verify`, and the default configuration is what the daemon expects.
 * Needs root (setpriv, dbus-daemon), dbus-daemon, gdbus (libglib2.0-bin), systemd-analyze (systemd).
 */
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { connectBus } from '../../src/dbus/bus.js';
import { CONTRACT, contractInterface } from '../../src/dbus/contract.js';
import { DOC_ANNOTATION } from '../../src/dbus/introspection.js';
import { BUS_NAME, INSTALLED_FILES, OS_INTERFACE, SYSROOT_INTERFACE, TRANSACTION_INTERFACE } from '../../src/dbus/names.js';
import { POLKIT_ACTIONS, actionsFor, methodsWithRules } from '../../src/dbus/polkit.js';
import { childrenNamed, parseXml } from '../../src/dbus/xml.js';
import { runUnchecked } from '../../src/lib/exec.js';
import { KeyFile } from '../../src/lib/keyfile.js';
import { DATA, POLICY_FILE, REPO, asUser, startPrivateBus } from './private-bus.js';

const ACTIVATION_FILE = join(DATA, 'dbus/org.aptostree.AptOstree1.service');
const UNIT_FILE = join(DATA, 'systemd/apt-ostreed.service');
const POLKIT_FILE = join(DATA, 'polkit/org.aptostree.AptOstree1.policy');
const AUTOMATIC_SERVICE = join(DATA, 'systemd/apt-ostreed-automatic.service');
const AUTOMATIC_TIMER = join(DATA, 'systemd/apt-ostreed-automatic.timer');

test('the bus policy and the activation file load in a real dbus-daemon', async (t) => {
  const bus = await startPrivateBus({ services: { [`${BUS_NAME}.service`]: await readFile(ACTIVATION_FILE, 'utf8') } });
  t.after(() => bus.stop());
  const conf = await readFile(bus.configFile, 'utf8');
  assert.match(conf, new RegExp(`<include>${POLICY_FILE}</include>`));

  const root = await connectBus(bus.address);
  t.after(() => root.close());
  assert.ok((await root.listActivatableNames()).includes(BUS_NAME), 'the activation file was read');

  // Not root: the name can not be owned.
  const nobody = await runUnchecked([...asUser(), 'gdbus', 'call', '--system', '--dest', 'org.freedesktop.DBus',
    '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.RequestName', BUS_NAME, '4'],
  { env: bus.env });
  assert.notEqual(nobody.code, 0);
  assert.match(nobody.stderr, /AccessDenied/);
  // Root: it can.
  assert.equal(await root.requestName(BUS_NAME, { doNotQueue: true }), 'primary-owner');
});

test('a broken bus policy stops dbus-daemon (so the test above proves something)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-policy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken.conf');
  await writeFile(broken, (await readFile(POLICY_FILE, 'utf8')).replace('<allow own=', '<allow owns='));
  await assert.rejects(startPrivateBus({ policyFile: broken }), /dbus-daemon exited/);
});

test('the contract XML has every interface and member of issue 4, each documented', () => {
  const members = (name: typeof SYSROOT_INTERFACE | typeof OS_INTERFACE | typeof TRANSACTION_INTERFACE) => {
    const i = contractInterface(name);
    return {
      methods: new Map(i.methods.map((m) => [m.name, m])),
      properties: new Map(i.properties.map((p) => [p.name, p])),
      signals: new Map(i.signals.map((s) => [s.name, s])),
    };
  };
  const sysroot = members(SYSROOT_INTERFACE);
  for (const p of ['Booted', 'Path', 'Deployments', 'ActiveTransaction', 'AutomaticUpdatePolicy']) {
    assert.ok(sysroot.properties.has(p), `Sysroot.${p}`);
  }
  assert.equal(sysroot.properties.get('Deployments')?.type, 'aa{sv}');
  for (const m of ['RegisterClient', 'UnregisterClient', 'Reload', 'ReloadConfig', 'GetOS', 'Ping', 'GetStatus']) {
    assert.ok(sysroot.methods.has(m), `Sysroot.${m}`);
  }

  const os = members(OS_INTERFACE);
  for (const p of ['BootedDeployment', 'DefaultDeployment', 'RollbackDeployment', 'CachedUpdate']) {
    assert.equal(os.properties.get(p)?.type, 'a{sv}', `OS.${p}`);
  }
  for (const m of ['Upgrade', 'Deploy', 'Rebase', 'Rollback', 'PkgChange', 'UpdateDeployment', 'KernelArgs',
    'SetInitramfsState', 'Cleanup', 'RefreshMd']) {
    const method = os.methods.get(m);
    assert.ok(method, `OS.${m}`);
    assert.deepEqual(method.out.map((a) => a.type), ['o'], `OS.${m} returns a transaction path`);
  }
  for (const m of ['Upgrade', 'Deploy', 'Rebase', 'Rollback', 'PkgChange', 'KernelArgs', 'RefreshMd']) {
    assert.ok(os.methods.get(m)?.in.some((a) => a.type === 'a{sv}' && a.name === 'options'), `OS.${m} takes options`);
  }
  // Issue 6: the booted-only commands and automatic updates.
  for (const m of ['UsrOverlay', 'ApplyLive', 'AutomaticUpdateTrigger']) {
    assert.deepEqual(os.methods.get(m)?.in.map((a) => `${a.type} ${a.name}`), ['a{sv} options'], `OS.${m}`);
    assert.deepEqual(os.methods.get(m)?.out.map((a) => a.type), ['o'], `OS.${m} returns a transaction path`);
  }
  assert.deepEqual(os.methods.get('SetInitramfsState')?.in.map((a) => `${a.type} ${a.name}`),
    ['b regenerate', 'as args', 'a{sv} options']);
  assert.deepEqual(os.methods.get('UpdateDeployment')?.in.map((a) => `${a.type} ${a.name}`),
    ['a{sv} modifiers', 'a{sv} options']);
  for (const m of ['Search', 'ListPackages', 'GetDeploymentsDiff', 'GetDeploymentBootConfig']) {
    assert.ok(os.methods.has(m), `OS.${m}`);
    assert.notDeepEqual(os.methods.get(m)?.out.map((a) => a.type), ['o'], `OS.${m} answers directly`);
  }

  const tx = members(TRANSACTION_INTERFACE);
  for (const p of ['Title', 'Initiator', 'Progress']) assert.ok(tx.properties.has(p), `Transaction.${p}`);
  for (const m of ['Start', 'Cancel']) assert.ok(tx.methods.has(m), `Transaction.${m}`);
  for (const s of ['Message', 'TaskBegin', 'TaskEnd', 'PercentProgress', 'DownloadProgress', 'Finished']) {
    assert.ok(tx.signals.has(s), `Transaction.${s}`);
  }
  assert.deepEqual(tx.signals.get('Finished')?.args.map((a) => `${a.type} ${a.name}`),
    ['b success', 's error_code', 's message']);
  assert.deepEqual(tx.signals.get('DownloadProgress')?.args.map((a) => `${a.type} ${a.name}`),
    ['s title', 't bytes_done', 't bytes_total', 't bytes_per_second']);

  for (const i of CONTRACT) {
    assert.ok(i.doc, `${i.name} is documented`);
    for (const m of [...i.methods, ...i.properties, ...i.signals]) {
      assert.ok(m.annotations[DOC_ANNOTATION], `${i.name}.${m.name} has a DocString`);
    }
  }
});

test('the polkit actions file is well formed and declares exactly the actions the daemon checks', async () => {
  const root = parseXml(await readFile(POLKIT_FILE, 'utf8'));
  assert.equal(root.name, 'policyconfig');
  const actions = childrenNamed(root, 'action');
  const ids = actions.map((a) => a.attributes.id ?? '');
  assert.deepEqual([...ids].sort(), [...POLKIT_ACTIONS].sort());
  const results = new Set(['no', 'yes', 'auth_self', 'auth_admin', 'auth_self_keep', 'auth_admin_keep']);
  for (const a of actions) {
    for (const el of ['description', 'message']) {
      assert.ok((childrenNamed(a, el)[0]?.text.trim() ?? '') !== '', `${a.attributes.id ?? ''} has a ${el}`);
    }
    const defaults = childrenNamed(a, 'defaults')[0];
    assert.ok(defaults, `${a.attributes.id ?? ''} has defaults`);
    for (const d of ['allow_any', 'allow_inactive', 'allow_active']) {
      assert.ok(results.has(childrenNamed(defaults, d)[0]?.text.trim() ?? ''), `${a.attributes.id ?? ''} ${d}`);
    }
  }

  // Every method of the contract has a rule, and every action is used by some method.
  const contractMethods = CONTRACT.flatMap((i) => i.methods.map((m) => `${i.name}.${m.name}`));
  assert.deepEqual(methodsWithRules().sort(), contractMethods.sort());
  const used = new Set<string>();
  const samples: [string, string, unknown[]][] = [
    [OS_INTERFACE, 'UpdateDeployment', [{ 'override-remove': ['nano'], 'reset-overlays': true, 'reset-initramfs': true }, {}]],
    [OS_INTERFACE, 'Upgrade', [{ check: true }]],
  ];
  for (const i of CONTRACT) for (const m of i.methods) samples.push([i.name, m.name, []]);
  for (const [iface, member, args] of samples) for (const a of actionsFor(iface, member, args)) used.add(a);
  assert.deepEqual([...used].sort(), [...POLKIT_ACTIONS].sort());
  assert.deepEqual(actionsFor(OS_INTERFACE, 'PkgChange', [[], [], { 'dry-run': true }]), []);
  assert.deepEqual(actionsFor(OS_INTERFACE, 'PkgChange', [['htop'], [], {}]),
    ['org.aptostree.AptOstree1.install-uninstall-packages']);
  assert.deepEqual(actionsFor(SYSROOT_INTERFACE, 'GetStatus'), []);
  assert.throws(() => actionsFor(OS_INTERFACE, 'NoSuchMethod'));
});

test('the systemd unit passes systemd-analyze verify and activation points at it', async (t) => {
  const unit = KeyFile.parse(await readFile(UNIT_FILE, 'utf8'));
  assert.equal(unit.get('Service', 'Type'), 'dbus');
  assert.equal(unit.get('Service', 'BusName'), BUS_NAME);
  assert.equal(unit.get('Service', 'ExecStart'), INSTALLED_FILES.daemon);
  const activation = KeyFile.parse(await readFile(ACTIVATION_FILE, 'utf8'));
  assert.equal(activation.get('D-BUS Service', 'Name'), BUS_NAME);
  assert.equal(activation.get('D-BUS Service', 'Exec'), INSTALLED_FILES.daemon);
  assert.equal(activation.get('D-BUS Service', 'User'), 'root');
  assert.equal(activation.get('D-BUS Service', 'SystemdService'), 'apt-ostreed.service');

  // verify checks that ExecStart exists and loads the units it depends on (dbus.socket, sysinit.target): it runs on
  // a scratch root holding the host's unit directory, the unit where the package puts it and a stand-in program.
  const root = await mkdtemp(join(tmpdir(), 'apt-ostree-unit-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const unitDir = join(root, 'usr/lib/systemd/system');
  await mkdir(join(root, 'usr/lib/systemd'), { recursive: true });
  await cp('/usr/lib/systemd/system', unitDir, { recursive: true, verbatimSymlinks: true });
  await cp(UNIT_FILE, join(root, INSTALLED_FILES.systemdUnit));
  await mkdir(join(root, 'usr/libexec'), { recursive: true });
  await writeFile(join(root, INSTALLED_FILES.daemon), '#!/bin/sh\n');
  await chmod(join(root, INSTALLED_FILES.daemon), 0o755);
  const r = await runUnchecked(['systemd-analyze', 'verify', '--man=no', `--root=${root}`,
    join(root, INSTALLED_FILES.systemdUnit)]);
  assert.equal(r.code, 0, r.stderr);
  // Unknown keys and bad values are only warnings (status 0): there must be none.
  assert.equal(r.stderr.trim() + r.stdout.trim(), '');

  // The check bites: a typo in a key is reported.
  await writeFile(join(root, INSTALLED_FILES.systemdUnit),
    (await readFile(UNIT_FILE, 'utf8')).replace('ProtectClock=', 'ProtectClocks='));
  const typo = await runUnchecked(['systemd-analyze', 'verify', '--man=no', `--root=${root}`,
    join(root, INSTALLED_FILES.systemdUnit)]);
  assert.match(typo.stderr, /Unknown key.*ProtectClocks/);
});

test('the automatic update units pass systemd-analyze verify and run the policy trigger', async (t) => {
  const service = KeyFile.parse(await readFile(AUTOMATIC_SERVICE, 'utf8'));
  const timer = KeyFile.parse(await readFile(AUTOMATIC_TIMER, 'utf8'));
  assert.equal(service.get('Service', 'Type'), 'oneshot');
  const exec = (service.get('Service', 'ExecStart') ?? '').split(' ');
  assert.equal(exec[0], INSTALLED_FILES.client);
  assert.ok(exec.includes('upgrade') && exec.includes('--trigger-automatic-update-policy'), exec.join(' '));
  assert.equal(service.get('Unit', 'ConditionPathExists'), '/run/ostree-booted');
  assert.equal(timer.get('Timer', 'OnCalendar'), 'daily');
  assert.match(timer.get('Timer', 'RandomizedDelaySec') ?? '', /^\d+h$/);
  assert.equal(timer.get('Timer', 'Persistent'), 'true');
  assert.equal(timer.get('Install', 'WantedBy'), 'timers.target');

  // As for apt-ostreed.service: a scratch root with the host's units, ours where the package puts them, and a
  // stand-in client (verify checks that ExecStart exists). The timer is verified with the service it starts.
  const root = await mkdtemp(join(tmpdir(), 'apt-ostree-automatic-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'usr/lib/systemd'), { recursive: true });
  await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  await cp(AUTOMATIC_SERVICE, join(root, INSTALLED_FILES.automaticService));
  await cp(AUTOMATIC_TIMER, join(root, INSTALLED_FILES.automaticTimer));
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await writeFile(join(root, INSTALLED_FILES.client), '#!/bin/sh\n');
  await chmod(join(root, INSTALLED_FILES.client), 0o755);
  const verify = (): ReturnType<typeof runUnchecked> => runUnchecked(['systemd-analyze', 'verify', '--man=no', `--root=${root}`,
    join(root, INSTALLED_FILES.automaticTimer), join(root, INSTALLED_FILES.automaticService)]);
  const r = await verify();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim() + r.stdout.trim(), '');

  // The check bites: a misspelled timer key is reported.
  await writeFile(join(root, INSTALLED_FILES.automaticTimer), (await readFile(AUTOMATIC_TIMER, 'utf8')).replace('Persistent=', 'Persistant='));
  assert.match((await verify()).stderr, /Unknown key.*Persistant/);
});

test('the default configuration', async () => {
  const conf = KeyFile.parse(await readFile(join(DATA, 'apt-ostreed.conf'), 'utf8'));
  assert.deepEqual(conf.groups(), ['Daemon']);
  assert.equal(conf.get('Daemon', 'IdleExitTimeout'), '60');
  assert.equal(conf.get('Daemon', 'AutomaticUpdatePolicy'), 'none');
  assert.equal(conf.getBoolean('Daemon', 'LockLayering'), false);
});

test('the bundles carry the contract: no data file is read at run time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-bundle-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const entry = join(dir, 'entry.ts');
  await writeFile(entry, `import { CONTRACT, CONTRACT_XML } from '${join(REPO, 'src/dbus/contract.ts')}';
process.stdout.write(JSON.stringify({ interfaces: CONTRACT.map((i) => i.name), length: CONTRACT_XML.length }));\n`);
  // The same define as build.mjs.
  const xml = await readFile(join(DATA, 'dbus/org.aptostree.AptOstree1.xml'), 'utf8');
  const buildMjs = await readFile(join(REPO, 'build.mjs'), 'utf8');
  assert.match(buildMjs, /__APT_OSTREE_DBUS_CONTRACT__: JSON\.stringify\(readFileSync\(new URL\('data\/dbus\/org\.aptostree\.AptOstree1\.xml'/);
  const out = join(dir, 'bundle.mjs');
  await build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    define: { __APT_OSTREE_DBUS_CONTRACT__: JSON.stringify(xml) }, logLevel: 'silent',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
  // Run it where ../../data does not exist.
  const r = await runUnchecked(['node', out], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { interfaces: [SYSROOT_INTERFACE, OS_INTERFACE, TRANSACTION_INTERFACE],
    length: xml.length });
});
