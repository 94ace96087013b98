/**
 * data/polkit/org.aptostree.AptOstree1.policy in a real polkitd, and src/dbus/polkit.ts's CheckAuthorization: polkitd
 * runs on a private system-like bus inside bubblewrap, so that our actions file and a test rule (uid nobody may
 * install packages) are visible to it without touching the host's /usr/share/polkit-1 or /etc/polkit-1. Needs root,
 * polkitd, bubblewrap, dbus-daemon, gdbus.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectBus, type Bus } from '../../src/dbus/bus.js';
import { implementInterface } from '../../src/dbus/contract.js';
import { BUS_NAME, POLKIT_SERVICE, SYSROOT_INTERFACE, SYSROOT_PATH } from '../../src/dbus/names.js';
import { POLKIT_ACTIONS, checkAuthorization, polkitAction } from '../../src/dbus/polkit.js';
import { runUnchecked } from '../../src/lib/exec.js';
import { DATA, asUser, startPrivateBus, type PrivateBus } from './private-bus.js';
import { stubImpl } from './stubs.js';

const POLKITD = '/usr/lib/polkit-1/polkitd';
const RULE = `// apt-ostree test: nobody may layer packages without authentication
polkit.addRule(function(action, subject) {
    if (action.id == "${polkitAction('install-uninstall-packages')}" && subject.user == "nobody") {
        return polkit.Result.YES;
    }
});
`;

describe('polkit', () => {
  let pb: PrivateBus;
  let dir: string;
  let polkitd: ChildProcess | undefined;
  let service: Bus;
  const stopPolkitd = async (): Promise<void> => {
    const child = polkitd;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid, 'SIGTERM');
    await exited;
  };

  before(async () => {
    pb = await startPrivateBus();
    dir = await mkdtemp(join(tmpdir(), 'apt-ostree-polkit-'));
    const actions = join(dir, 'actions');
    const rules = join(dir, 'rules.d');
    await mkdir(actions);
    await mkdir(rules);
    for (const f of await readdir('/usr/share/polkit-1/actions')) {
      await copyFile(join('/usr/share/polkit-1/actions', f), join(actions, f));
    }
    await copyFile(join(DATA, 'polkit/org.aptostree.AptOstree1.policy'), join(actions, 'org.aptostree.AptOstree1.policy'));
    await writeFile(join(rules, '60-apt-ostree-test.rules'), RULE);
    for (const p of [dir, actions, rules]) await chmod(p, 0o755);
    for (const f of await readdir(actions)) await chmod(join(actions, f), 0o644);
    await chmod(join(rules, '60-apt-ostree-test.rules'), 0o644);

    polkitd = spawn('bwrap', ['--dev-bind', '/', '/', '--ro-bind', actions, '/usr/share/polkit-1/actions',
      '--ro-bind', rules, '/etc/polkit-1/rules.d', '--setenv', 'DBUS_SYSTEM_BUS_ADDRESS', pb.address, POLKITD],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const child = polkitd;
    process.once('exit', () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch { /* already gone */ }
      }
    });
    let log = '';
    polkitd.stderr?.on('data', (b: Buffer) => { log += b.toString(); });
    service = await connectBus(pb.address);
    for (let i = 0; !(await service.nameHasOwner(POLKIT_SERVICE)); i++) {
      if (i > 200 || polkitd.exitCode !== null) throw new Error(`polkitd did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    service.exportInterface(SYSROOT_PATH, implementInterface(SYSROOT_INTERFACE, stubImpl(SYSROOT_INTERFACE, {
      methods: {
        // For this test, Ping answers what polkit says about the caller.
        Ping: async (_args, call) => {
          const answers: Record<string, string> = {};
          for (const a of ['install-uninstall-packages', 'upgrade'] as const) {
            answers[a] = await checkAuthorization(service, call.sender, polkitAction(a));
          }
          return JSON.stringify(answers);
        },
      },
    })));
    assert.equal(await service.requestName(BUS_NAME, { doNotQueue: true }), 'primary-owner');
  });

  after(async () => {
    await stopPolkitd();
    await service.close();
    await pb.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('polkitd loads our actions file: pkaction lists every action with its description', async () => {
    const all = await runUnchecked(['pkaction'], { env: pb.env });
    assert.equal(all.code, 0, all.stderr);
    for (const a of POLKIT_ACTIONS) assert.match(all.stdout, new RegExp(`^${a.replace(/\./g, '\\.')}$`, 'm'), a);
    const one = await runUnchecked(['pkaction', '--verbose', '--action-id', polkitAction('upgrade')], { env: pb.env });
    assert.match(one.stdout, /description:\s+Update the operating system/);
    assert.match(one.stdout, /implicit active:\s+auth_admin_keep/);
  });

  test('CheckAuthorization for a caller on the bus: a rule grants one action, the others need a password', async () => {
    const ask = async (uid: number): Promise<unknown> => {
      const r = await runUnchecked([...asUser(uid), 'gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path',
        SYSROOT_PATH, '--method', `${SYSROOT_INTERFACE}.Ping`], { env: pb.env });
      assert.equal(r.code, 0, r.stderr);
      const m = /^\('(.*)',\)$/.exec(r.stdout.trim());
      return JSON.parse(m?.[1] ?? 'null');
    };
    assert.deepEqual(await ask(65534), { 'install-uninstall-packages': 'authorized', upgrade: 'challenge' });
    assert.deepEqual(await ask(1), { 'install-uninstall-packages': 'challenge', upgrade: 'challenge' });
  });

  test('without polkit on the bus the answer is "unavailable"', async () => {
    await stopPolkitd();
    for (let i = 0; await service.nameHasOwner(POLKIT_SERVICE); i++) {
      assert.ok(i < 200, 'polkitd left the bus');
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(await checkAuthorization(service, service.uniqueName, polkitAction('upgrade')), 'unavailable');
  });
});
