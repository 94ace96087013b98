/**
 * The client's choice of executor and its D-Bus executor (src/cli/backend.ts, backend-dbus.ts), through the bundled
 * CLI as a user runs it:
 * - no bus, or a bus without apt-ostreed: read-only commands run in-process silently; changes run in-process for root
 *   with one notice line on stderr, and fail clearly for others; --no-daemon and APT_OSTREE_NO_DAEMON=1 force it;
 * - against a stub apt-ostreed on a private system bus: the sysroot check, daemon-ping, daemon-status, cancel,
 *   status from the Deployments property, a transaction's signals rendered and its result printed, the error of a
 *   failed one, and Ctrl-C turned into Transaction.Cancel.
 * The same against the real daemon is in executors.test.ts. Needs root, dbus-daemon, setpriv, the kit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectBus, type Bus, type ExportedInterface } from '../../src/dbus/bus.js';
import { OUTCOME_DICT, STATUS_DICT, encodeDeployment, encodeDict, implementInterface } from '../../src/dbus/contract.js';
import { BUS_NAME, NO_OBJECT, OS_INTERFACE, SYSROOT_INTERFACE, SYSROOT_PATH, TRANSACTION_INTERFACE, osPath,
  transactionPath } from '../../src/dbus/names.js';
import type { DeploymentStatus } from '../../src/core/ops/status.js';
import { runUnchecked } from '../../src/lib/exec.js';
import { getKit, type Kit } from '../kit/index.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import { CLI, bootOptions, cli, snapshot } from '../system/support.js';
import { asUser, startPrivateBus, type PrivateBus } from './private-bus.js';
import { stubImpl } from './stubs.js';
import { barLine, downloadBar, progressRenderer } from '../../src/cli/render/progress.js';
import { FALLBACK_NOTICE, chooseBackend } from '../../src/cli/backend.js';
import { AptOstreeError } from '../../src/lib/errors.js';
import type { Request } from '../../src/core/requests.js';

const NOTICE = 'note: apt-ostreed is not reachable; running in-process';
const NO_BUS = { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/apt-ostree-test-bus' };

describe('fallback without apt-ostreed', () => {
  let kit: Kit;
  const sysroots: string[] = [];
  let emptyBus: PrivateBus;

  before(async () => {
    kit = await getKit();
    emptyBus = await startPrivateBus();
  });
  after(async () => {
    await emptyBus.stop();
    for (const s of sysroots) await removeSysroot(s);
  });
  const fresh = async (): Promise<string> => {
    const s = (await newSysroot(kit)).path;
    sysroots.push(s);
    return s;
  };

  test('no bus: status runs in-process without a word; a change runs in-process for root with one notice line', async () => {
    const s = await fresh();
    const st = await cli(s, ['status', '--json'], NO_BUS);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.stderr, '');
    assert.equal((JSON.parse(st.stdout) as { deployments: unknown[] }).deployments.length, 1);
    const r = await cli(s, ['kargs', '--append=fallback=1'], NO_BUS);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stderr.split('\n').filter((l) => l.startsWith('note:')), [NOTICE]);
    assert.ok((await bootOptions(s))[0]!.includes('fallback=1'));
    // A failure still ends with its one error line.
    const bad = await cli(s, ['deploy', 'v9'], NO_BUS);
    const lines = bad.stderr.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('error')).length, 1, bad.stderr);
    assert.match(lines.at(-1)!, /^error\[unknown-revision\]/);
  });

  test('a bus where apt-ostreed is neither running nor activatable: the same fallback', async () => {
    const s = await fresh();
    const r = await cli(s, ['kargs', '--append=onbus=1'], emptyBus.env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.split('\n').includes(NOTICE), r.stderr);
    assert.ok((await bootOptions(s))[0]!.includes('onbus=1'));
  });

  test('--no-daemon and APT_OSTREE_NO_DAEMON=1: in-process without a notice', async () => {
    const s = await fresh();
    const a = await cli(s, ['--no-daemon', 'kargs', '--append=nd=1'], emptyBus.env);
    assert.equal(a.code, 0, a.stderr);
    assert.ok(!a.stderr.includes('note:'), a.stderr);
    const b = await cli(s, ['kargs', '--append=nd=2'], { ...emptyBus.env, APT_OSTREE_NO_DAEMON: '1' });
    assert.equal(b.code, 0, b.stderr);
    assert.ok(!b.stderr.includes('note:'), b.stderr);
    assert.ok((await bootOptions(s))[0]!.includes('nd=2'));
    const ping = await cli(s, ['--no-daemon', 'daemon-ping']);
    assert.equal(ping.code, 1);
    assert.match(ping.stderr, /^error\[usage\]: daemon-ping talks to apt-ostreed/);
  });

  test('not root and no daemon: a change fails clearly and touches nothing', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await runUnchecked([...asUser(), process.execPath, CLI, '--sysroot', s, 'kargs', '--append=x=1'],
      { env: { ...process.env, ...NO_BUS } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trim(), /^error\[not-root\]: apt-ostreed is not reachable, and kargs changes the system.* — /);
    assert.equal(await snapshot(s), before);
  });

  test('daemon-ping without a daemon says so', async () => {
    const r = await cli('/', ['daemon-ping'], emptyBus.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error\[command-failed\]: apt-ostreed is not reachable/);
  });
});

const DEPLOYMENT: DeploymentStatus = {
  id: 'debian-0123abcd.0', osname: 'debian', serial: 0, checksum: '0123abcd', version: '13.1', timestamp: 1700000000,
  booted: false, staged: false, pinned: false, rollback: false, origin: 'kit:debian/13/x86_64/kit', 'base-checksum': null,
  'requested-packages': ['htop'], packages: ['htop'], 'inactive-requests': [],
  'layered-packages': [{ name: 'htop', version: '3.2.2-2' }], 'base-removals': [], 'base-replacements': [],
  kargs: ['quiet'], index: 0, 'regenerate-initramfs': false, 'initramfs-args': [], unlocked: 'none', 'live-inprogress': null,
  'live-replaced': null,
};

describe('the D-Bus executor against a stub apt-ostreed', () => {
  let pb: PrivateBus;
  let service: Bus;
  let dir: string;
  let servedPath: string;
  let active: [string, string, string] = ['', '', NO_OBJECT];
  const calls: string[] = [];
  let nextTx = 1;
  const txs = new Map<string, { iface: ExportedInterface; outcome: Record<string, unknown>; state: string }>();

  /** A transaction that, once started, runs `script` (emitting its signals) unless it is to hang until Cancel. */
  function newTransaction(title: string, script: (emit: (signal: string, ...args: unknown[]) => void,
    finish: (outcome: Record<string, unknown>) => void) => void): string {
    const path = transactionPath(nextTx++);
    const tx = { iface: undefined as unknown as ExportedInterface, outcome: {} as Record<string, unknown>, state: 'waiting' };
    const finish = (outcome: Record<string, unknown>): void => {
      if (tx.state === 'finished') return;
      tx.state = 'finished';
      tx.outcome = outcome;
      active = ['', '', NO_OBJECT];
      const text = (k: string): string => (typeof outcome[k] === 'string' ? outcome[k] : '');
      const hint = text('error-hint') === '' ? '' : ` — ${text('error-hint')}`;
      tx.iface.emit('Finished', outcome.success === true, text('error-code'),
        outcome.success === true ? '' : `${text('error-message')}${hint}`);
    };
    tx.iface = service.exportInterface(path, implementInterface(TRANSACTION_INTERFACE, stubImpl(TRANSACTION_INTERFACE, {
      methods: {
        Start: () => {
          calls.push(`Start ${title}`);
          if (tx.state !== 'waiting') return false;
          tx.state = 'running';
          active = [title, 'apt-ostree (uid 0)', path];
          setTimeout(() => { script((signal, ...args) => { tx.iface.emit(signal, ...args); }, finish); }, 20);
          return true;
        },
        Cancel: () => {
          calls.push(`Cancel ${title}`);
          setTimeout(() => {
            finish({ success: false, 'error-code': 'cancelled', 'error-message': 'the transaction was cancelled',
              'error-hint': 'nothing was changed' });
          }, 50);
        },
      },
      properties: {
        Title: () => title,
        State: () => tx.state,
        Outcome: () => encodeDict(OUTCOME_DICT, tx.outcome),
      },
    })));
    txs.set(path, tx);
    return path;
  }

  before(async () => {
    pb = await startPrivateBus();
    dir = await mkdtemp(join(tmpdir(), 'apt-ostree-stub-sysroot-'));
    await chmod(dir, 0o755);
    servedPath = dir;
    service = await connectBus(pb.address);
    service.exportInterface(SYSROOT_PATH, implementInterface(SYSROOT_INTERFACE, stubImpl(SYSROOT_INTERFACE, {
      methods: {
        RegisterClient: ([o]) => { calls.push(`RegisterClient ${JSON.stringify(o)}`); },
        UnregisterClient: () => { calls.push('UnregisterClient'); },
        Ping: () => 'stub-9.9',
        GetOS: ([name]) => osPath(name === '' ? 'debian' : String(name)),
        GetStatus: () => encodeDict(STATUS_DICT, { version: 'stub-9.9', pid: process.pid, 'uptime-seconds': 125,
          sysroot: servedPath, clients: ['apt-ostree test (uid 0)'], 'active-transaction': active, 'idle-exit-timeout': 60,
          'automatic-update-policy': 'none', 'lock-layering': false, polkit: false }),
        Reload: () => { calls.push('Reload'); },
        ReloadConfig: () => { calls.push('ReloadConfig'); },
      },
      properties: {
        Path: () => servedPath,
        Deployments: () => [encodeDeployment(DEPLOYMENT)],
        ActiveTransaction: () => active,
      },
    })));
    service.exportInterface(osPath('debian'), implementInterface(OS_INTERFACE, stubImpl(OS_INTERFACE, {
      methods: {
        KernelArgs: ([append]) => newTransaction(`kargs ${(append as string[]).map((a) => `--append=${a}`).join(' ')}`,
          (emit, finish) => {
            emit('TaskBegin', 'Writing the deployment');
            emit('DownloadProgress', 'Downloading', 1000, 4000, 500);
            emit('PercentProgress', 'Checking out', 50);
            emit('Message', 'a message from the daemon');
            emit('TaskEnd', 'Writing the deployment');
            finish({ success: true, result_json: JSON.stringify({ changed: true, kargs: ['quiet', ...(append as string[])] }) });
          }),
        Rollback: () => newTransaction('rollback', (_emit, finish) => {
          finish({ success: false, 'error-code': 'no-rollback', 'error-message': 'there is no deployment to roll back to',
            'error-hint': 'see `apt-ostree status`' });
        }),
        PkgChange: ([install]) => newTransaction(`install ${(install as string[]).join(' ')}`, (emit) => {
          emit('TaskBegin', 'Downloading packages');
          emit('DownloadProgress', 'Downloading packages', 0, 1_000_000, 0);
          // Hangs until Cancel.
        }),
        ListPackages: () => JSON.stringify({ packages: [{ name: 'htop', version: '3.2.2-2', architecture: 'amd64', origin: 'layered' }], removed: [] }),
      },
      properties: { Name: () => 'debian' },
    })));
    assert.equal(await service.requestName(BUS_NAME, { doNotQueue: true }), 'primary-owner');
  });

  after(async () => {
    await service.close();
    await pb.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const run = (args: string[], sysroot = dir) => cli(sysroot, args, pb.env);

  test('a daemon serving another sysroot is an error, never used', async () => {
    const other = await mkdtemp(join(tmpdir(), 'apt-ostree-other-'));
    try {
      const before = calls.length;
      const r = await run(['kargs', '--append=x=1'], other);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.trim(), new RegExp(`^error\\[invalid-argument\\]: apt-ostreed serves the sysroot ${dir}, not ${other}.* — .*--no-daemon`));
      assert.deepEqual(calls.slice(before), [], 'not even registered');
    } finally {
      await rm(other, { recursive: true });
    }
  });

  test('daemon-ping, daemon-status (text and JSON), reload', async () => {
    const ping = await run(['daemon-ping']);
    assert.equal(ping.code, 0, ping.stderr);
    assert.equal(ping.stdout, 'apt-ostreed stub-9.9 is running\n');
    const st = await run(['daemon-status', '--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual(JSON.parse(st.stdout), {
      version: 'stub-9.9', pid: process.pid, 'uptime-seconds': 125, sysroot: dir, clients: ['apt-ostree test (uid 0)'],
      'active-transaction': null, 'idle-exit-timeout': 60, 'automatic-update-policy': 'none', 'lock-layering': false,
      polkit: false,
    });
    const text = await run(['daemon-status']);
    assert.match(text.stdout, /^apt-ostreed stub-9\.9 \(pid \d+\), up 2m05s$/m);
    assert.match(text.stdout, /^Transaction: none$/m);
    const before = calls.length;
    const reload = await run(['reload']);
    assert.equal(reload.code, 0, reload.stderr);
    assert.deepEqual(calls.slice(before).filter((c) => c.startsWith('Reload')), ['Reload', 'ReloadConfig']);
  });

  test('status reads the Deployments property; list is a direct answer', async () => {
    const r = await run(['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { deployments: [DEPLOYMENT], transaction: null, 'cached-update': null });
    const l = await run(['list', '--json']);
    assert.equal(l.code, 0, l.stderr);
    assert.equal((JSON.parse(l.stdout) as { packages: { name: string }[] }).packages[0]?.name, 'htop');
  });

  test('a transaction: registered, signals rendered as plain lines with totals, the result printed, unregistered', async () => {
    const before = calls.length;
    const r = await run(['kargs', '--append=stub=1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { changed: true, kargs: ['quiet', 'stub=1'] });
    const seen = calls.slice(before);
    assert.match(seen[0] ?? '', /^RegisterClient \{"id":"apt-ostree .*\(pid \d+\)"\}$/);
    assert.deepEqual(seen.slice(1), ['Start kargs --append=stub=1', 'UnregisterClient']);
    const text = await run(['kargs', '--append=stub=2']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'Kernel arguments updated.\nRun "systemctl reboot" to start a reboot\n');
    assert.deepEqual(text.stderr.trim().split('\n'), [
      'Writing the deployment...',
      'Downloading: 1.0 kB / 4.0 kB (500 B/s) ETA 6s',
      'Checking out: 50%',
      'a message from the daemon',
    ]);
  });

  test('a failed transaction: the error code, message and hint of Finished/Outcome', async () => {
    const r = await run(['rollback']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').at(-1), 'error[no-rollback]: there is no deployment to roll back to — see `apt-ostree status`');
  });

  test('cancel with no transaction; cancel from another client; Ctrl-C cancels the transaction', async () => {
    const none = await run(['cancel']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, 'No transaction is running.\n');

    // Another terminal: `apt-ostree cancel` while an install hangs.
    const first = spawnCli(['install', 'kit-app']);
    await first.waitFor(/Downloading packages/);
    const c = await run(['cancel']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, 'Cancelled: install kit-app (started by apt-ostree (uid 0))\n');
    const r1 = await first.done;
    assert.equal(r1.code, 130, r1.stderr);
    assert.equal(r1.stderr.trim().split('\n').at(-1), 'error[cancelled]: the transaction was cancelled — nothing was changed');

    // Ctrl-C in the client itself.
    const before = calls.length;
    const second = spawnCli(['install', 'kit-other']);
    await second.waitFor(/Downloading packages/);
    second.child.kill('SIGINT');
    const r2 = await second.done;
    assert.equal(r2.code, 130, r2.stderr);
    assert.match(r2.stderr, /error\[cancelled\]/);
    assert.deepEqual(calls.slice(before).filter((x) => !x.startsWith('RegisterClient')),
      ['Start install kit-other', 'Cancel install kit-other', 'UnregisterClient']);
  });

  function spawnCli(args: string[]): { child: ReturnType<typeof spawn>; waitFor(re: RegExp): Promise<void>;
    done: Promise<{ code: number; stderr: string }> } {
    const child = spawn(process.execPath, [CLI, '--sysroot', dir, ...args], { env: pb.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const waiters: { re: RegExp; resolve: () => void }[] = [];
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      for (const w of waiters.splice(0)) {
        if (w.re.test(stderr)) w.resolve(); else waiters.push(w);
      }
    });
    const done = new Promise<{ code: number; stderr: string }>((resolve) => {
      child.on('close', (code) => { resolve({ code: code ?? 1, stderr }); });
    });
    return {
      child, done,
      waitFor: (re) => new Promise<void>((resolve, reject) => {
        if (re.test(stderr)) { resolve(); return; }
        waiters.push({ re, resolve });
        void done.then(() => { reject(new Error(`exited before ${String(re)}: ${stderr}`)); });
      }),
    };
  }
});

describe('progress rendering on a terminal', () => {
  test('a download bar with bytes, total, rate and ETA, fitted to the width; a percent bar; no bar without a total', () => {
    const s = { title: 'Downloading packages', bytesDone: 250_000, bytesTotal: 1_000_000, rate: 50_000 };
    assert.equal(downloadBar(s, 100), `Downloading packages [${'#'.repeat(8)}${'-'.repeat(22)}] 250.0 kB / 1.0 MB  50.0 kB/s  ETA 15s`);
    assert.ok(downloadBar(s, 70).length <= 70);
    assert.equal(downloadBar({ ...s, bytesTotal: 0 }, 100), 'Downloading packages: 250.0 kB  50.0 kB/s');
    assert.equal(barLine('Running dpkg', 0.5, '50%', 39), `Running dpkg [${'#'.repeat(10)}${'-'.repeat(10)}] 50%`);
    assert.equal(barLine('Running dpkg', 0.5, '50%', 16), 'Running dpkg: 50%');
  });

  test('a terminal gets one live line redrawn in place; plain lines otherwise', () => {
    const written: string[] = [];
    const fake = { isTTY: true, columns: 80, write: (t: string) => { written.push(t); return true; } } as unknown as NodeJS.WriteStream;
    const p = progressRenderer(fake, false);
    p.taskBegin('Downloading packages');
    p.download({ title: 'Downloading packages', bytesDone: 500, bytesTotal: 1000, rate: 100 });
    p.taskEnd('Downloading packages');
    p.done();
    const out = written.join('');
    assert.ok(out.includes('\r\x1b[2KDownloading packages [#'), JSON.stringify(out));
    assert.match(out, /Downloading packages \[#+-+\] 500 B \/ 1\.0 kB {2}100 B\/s {2}ETA 5s/);
    assert.match(out, /Downloading packages\.\.\. done\n$/);
    const plain: string[] = [];
    const pipe = { isTTY: false, write: (t: string) => { plain.push(t); return true; } } as unknown as NodeJS.WriteStream;
    const q = progressRenderer(pipe, false);
    q.taskBegin('Downloading packages');
    q.download({ title: 'Downloading packages', bytesDone: 500, bytesTotal: 1000, rate: 100 });
    q.taskEnd('Downloading packages');
    assert.deepEqual(plain, ['Downloading packages...\n', 'Downloading packages: 500 B / 1.0 kB (100 B/s) ETA 5s\n']);
  });
});

describe('chooseBackend when apt-ostreed did not start in time', () => {
  // DaemonClient.connect gives up with daemon-unavailable (the bus tests of this are in daemon.test.ts).
  const connect = (): Promise<never> => Promise.reject(new AptOstreeError('daemon-unavailable',
    "apt-ostreed did not start: Failed to activate service 'org.aptostree.AptOstree1': timed out",
    'see `systemctl status apt-ostreed` and `journalctl -u apt-ostreed`'));
  const target = { sysroot: '/', osname: undefined };
  const change: Request = { kind: 'rollback' };
  const read: Request = { kind: 'status' };

  test('reads run in-process; root runs a change in-process with the notice; others get the clear error', async () => {
    const notices: string[] = [];
    const notice = (l: string): void => { notices.push(l); };
    assert.equal((await chooseBackend(target, read, { connect, notice, isRoot: false })).name, 'in-process');
    assert.deepEqual(notices, []);
    assert.equal((await chooseBackend(target, change, { connect, notice, isRoot: true })).name, 'in-process');
    assert.deepEqual(notices, [FALLBACK_NOTICE]);
    await assert.rejects(chooseBackend(target, change, { connect, notice, isRoot: false }), (err: unknown) => {
      assert.ok(err instanceof AptOstreeError);
      assert.equal(err.format(), "error[daemon-unavailable]: apt-ostreed did not start: Failed to activate service " +
        "'org.aptostree.AptOstree1': timed out — see `systemctl status apt-ostreed` and `journalctl -u apt-ostreed`, or " +
        'run the command as root');
      return true;
    });
  });
});
