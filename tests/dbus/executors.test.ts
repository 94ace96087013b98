/**
 * Acceptance 2 of issue 4: the same scenarios through both executors give the same results. Two fresh kit sysroots
 * (v1, apt sources on the kit's repository): one served by a real apt-ostreed on a private system bus, the CLI
 * talking to it through DBUS_SYSTEM_BUS_ADDRESS; the other driven with --no-daemon. Every step's JSON must be
 * identical modulo what differs between two sysroots (their paths, locally made commits, timestamps, serials).
 * Also: progress of a layering transaction reaches the client (acceptance 3), and Ctrl-C of the client during a
 * slow layering cancels the daemon's transaction with nothing changed (acceptance 5).
 * Needs root, dbus-daemon, the kit, and dist/ built (node build.mjs).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectBus } from '../../src/dbus/bus.js';
import { BUS_NAME } from '../../src/dbus/names.js';
import { loadSysroot } from '../../src/core/sysroot/sysroot.js';
import { run } from '../../src/lib/exec.js';
import { getKit, type Kit } from '../kit/index.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import { CLI, cli, fsckClean, snapshot, type CliResult } from '../system/support.js';
import { startPrivateBus, type PrivateBus } from './private-bus.js';

export const DAEMON = fileURLToPath(new URL('../../dist/apt-ostreed.mjs', import.meta.url));
const NOTICE = 'note: apt-ostreed is not reachable; running in-process';

export interface RunningDaemon {
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts dist/apt-ostreed.mjs for a sysroot on a bus and waits until it owns its name. */
export async function startDaemon(sysroot: string, pb: PrivateBus): Promise<RunningDaemon> {
  const child = spawn(process.execPath, [DAEMON, '--sysroot', sysroot, '--bus', pb.address, '--idle-exit', '3600'],
    { env: pb.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (b: Buffer) => { log += b.toString(); });
  const state = { exited: false };
  const gone = new Promise<void>((resolve) => { child.on('close', () => { state.exited = true; resolve(); }); });
  const bus = await connectBus(pb.address);
  try {
    for (let i = 0; ; i++) {
      if (await bus.nameHasOwner(BUS_NAME)) break;
      if (state.exited || i > 200) throw new Error(`apt-ostreed did not come up:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    await bus.close();
  }
  return {
    child,
    log: () => log,
    stop: async () => {
      if (state.exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => { child.kill('SIGKILL'); }, 10_000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Replaces what legitimately differs between two sysroots so the rest can be compared exactly. */
export function normalize(value: unknown, ctx: { sysroot: string; keep: ReadonlySet<string>; local: Map<string, string> }): unknown {
  const str = (s: string): string => s.split(ctx.sysroot).join('<sysroot>')
    .replace(/[0-9a-f]{64}/g, (h) => {
      if (ctx.keep.has(h)) return h;
      let name = ctx.local.get(h);
      if (!name) {
        name = `<local${ctx.local.size + 1}>`;
        ctx.local.set(h, name);
      }
      return name;
    })
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return str(v);
    if (typeof v === 'number' && key !== undefined && /timestamp|serial|seconds|^age|time|checked-at/i.test(key)) return 0;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [str(k), walk(x, k)]));
    }
    return v;
  };
  return walk(value);
}

describe('both executors give the same results', () => {
  let kit: Kit;
  let server: ServedDirectory;
  let pb: PrivateBus;
  let daemon: RunningDaemon;
  let viaDaemon: string;
  let inProcess: string;
  const sysroots: string[] = [];
  let keep: Set<string>;
  const locals = { d: new Map<string, string>(), p: new Map<string, string>() };

  async function fresh(aptUrl: string): Promise<string> {
    const s = (await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive` })).path;
    sysroots.push(s);
    const d = (await loadSysroot(s)).deployments[0]!;
    await mkdir(join(d.path, 'etc/apt/sources.list.d'), { recursive: true });
    await writeFile(join(d.path, 'etc/apt/sources.list.d/kit.list'), `${kit.aptSourcesLine(aptUrl)}\n`);
    return s;
  }

  before(async () => {
    kit = await getKit();
    server = await serveDirectory(kit.dir);
    keep = new Set(Object.values(kit.commits));
    pb = await startPrivateBus();
    viaDaemon = await fresh(`${server.url}/apt`);
    inProcess = await fresh(`${server.url}/apt`);
    daemon = await startDaemon(viaDaemon, pb);
  });
  after(async () => {
    await daemon.stop();
    await pb.stop();
    await server.close();
    for (const s of sysroots) await removeSysroot(s);
  });

  /** Runs one step through both executors; both must agree on the exit code and (normalized) JSON. */
  async function same(args: string[], opts: { json?: boolean } = {}): Promise<{ d: CliResult; p: CliResult }> {
    const json = opts.json ?? true;
    const full = json ? [...args, '--json'] : args;
    const d = await cli(viaDaemon, full, pb.env);
    const p = await cli(inProcess, ['--no-daemon', ...full], pb.env);
    assert.ok(!d.stderr.includes(NOTICE), `the daemon executor fell back:\n${d.stderr}\n${daemon.log()}`);
    assert.equal(d.code, p.code, `exit codes of ${args.join(' ')}:\n${d.stderr}\n--\n${p.stderr}\n--\n${daemon.log()}`);
    if (json && d.code === 0) {
      assert.deepEqual(normalize(JSON.parse(d.stdout), { sysroot: viaDaemon, keep, local: locals.d }),
        normalize(JSON.parse(p.stdout), { sysroot: inProcess, keep, local: locals.p }), args.join(' '));
    } else if (d.code === 0 || d.code === 77) {
      assert.equal(normalize(d.stdout, { sysroot: viaDaemon, keep, local: locals.d }),
        normalize(p.stdout, { sysroot: inProcess, keep, local: locals.p }), `${args.join(' ')}:\n${d.stderr}\n--\n${p.stderr}`);
    } else {
      assert.equal(d.stderr.trim().split('\n').at(-1), p.stderr.trim().split('\n').at(-1), args.join(' '));
    }
    return { d, p };
  }

  test('status, upgrade, kargs, rollback, install, uninstall, db diff, list, errors', async () => {
    await same(['status']);
    const up = await same(['upgrade']);
    assert.equal(up.d.code, 0, up.d.stderr);
    await same(['status']);
    await same(['kargs', '--append=both=1']);
    await same(['kargs']);
    await same(['rollback']);
    await same(['status']);
    await same(['rollback']);
    const inst = await same(['install', 'kit-app']);
    assert.equal(inst.d.code, 0, inst.d.stderr);
    await same(['status']);
    await same(['db', 'diff']);
    await same(['list']);
    await same(['uninstall', 'kit-app']);
    await same(['status']);
    await same(['db', 'list']);
    // Failures: the same one error line.
    const bad = await same(['deploy', 'v9'], { json: false });
    assert.match(bad.d.stderr.trim().split('\n').at(-1)!, /^error\[unknown-revision\]/);
    await same(['kargs', '--delete=not-there=1'], { json: false });
    for (const s of [viaDaemon, inProcess]) await fsckClean(s);
  });

  test('the other commands: deploy, rebase, pin, cleanup, prune, override, reset, search, refresh-md, db version, dry runs', async () => {
    await same(['upgrade', '--check']);
    await same(['upgrade', '--preview']);
    await same(['deploy', '13.1']);
    await same(['rebase', `kit:${kit.refs.alt}`]);
    await same(['status']);
    await same(['checkout', kit.refs.main]);
    await same(['pin', '1'], { json: false });
    await same(['status']);
    await same(['unpin', '1'], { json: false });
    await same(['cleanup', '-r']);
    await same(['cleanup', '-b']);
    await same(['prune']);
    await same(['db', 'version']);
    await same(['db', 'version', kit.commits.v2]);
    await same(['refresh-md']);
    await same(['search', 'kit-lib']);
    await same(['install', '--dry-run', 'kit-app']);
    await same(['override', 'remove', 'kit-filler-a']);
    await same(['status']);
    await same(['override', 'replace', 'kit-libfoo1=1.1-1']);
    await same(['list']);
    await same(['override', 'reset', 'kit-filler-a']);
    await same(['reset', '-o']);
    await same(['install', 'kit-app']);
    await same(['reset']);
    await same(['status']);
    await same(['pin', '7'], { json: false });
    await same(['kargs', '--deploy-index=1', '--append=from-rollback']);
    await same(['status']);
    for (const s of [viaDaemon, inProcess]) await fsckClean(s);
  });

  test('issue 6: initramfs, usroverlay, apply-live and the automatic update trigger give the same answers', async () => {
    await same(['initramfs']);
    await same(['upgrade', '--trigger-automatic-update-policy']);
    // The kit image has no dracut; the sysroots are offline directories: the same error, and nothing changed.
    const before = { d: await snapshot(viaDaemon), p: await snapshot(inProcess) };
    for (const args of [['initramfs', '--enable', '--arg=--add-drivers', '--arg=nbd'], ['initramfs', '--disable'], ['usroverlay'],
      ['usroverlay', '--hotfix'], ['apply-live'], ['apply-live', '--allow-replacement']]) {
      const d = await cli(viaDaemon, args, pb.env);
      const p = await cli(inProcess, ['--no-daemon', ...args], pb.env);
      assert.ok(!d.stderr.includes(NOTICE), `the daemon executor fell back:\n${d.stderr}`);
      assert.equal(d.code, 1, `${args.join(' ')}: ${d.stderr}\n${daemon.log()}`);
      assert.equal(p.code, 1, `${args.join(' ')}: ${p.stderr}`);
      const line = (r: CliResult, s: string): string => (r.stderr.trim().split('\n').at(-1) ?? '').split(s).join('<sysroot>');
      assert.equal(line(d, viaDaemon), line(p, inProcess), args.join(' '));
      assert.match(line(d, viaDaemon), /^error\[(tool-missing|nothing-to-do|not-booted)\]/, args.join(' '));
    }
    assert.deepEqual({ d: await snapshot(viaDaemon), p: await snapshot(inProcess) }, before);
    await same(['status']);
  });

  test('Ctrl-C of the client during a slow layering cancels the transaction; nothing changed; the next one works and shows its progress', async () => {
    const stalling = await serveDirectory(kit.dir, { stall: /\.deb$/ });
    const s = await fresh(`${stalling.url}/apt`);
    // One daemon per bus name: this one gets a bus of its own.
    const pb2 = await startPrivateBus();
    const d2 = await startDaemon(s, pb2).catch(async (err: unknown) => {
      await pb2.stop();
      await stalling.close();
      throw err;
    });
    try {
      const before = await snapshot(s);
      const child = spawn(process.execPath, [CLI, '--sysroot', s, 'install', 'kit-app'], { env: pb2.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let sent = false;
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!sent && /Downloading/.test(stderr)) {
          sent = true;
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      });
      const code = await new Promise<number>((resolve) => child.on('close', (c) => { resolve(c ?? 1); }));
      assert.equal(code, 130, `${stderr}\n${d2.log()}`);
      assert.match(stderr, /error\[cancelled\]/);
      assert.equal(await snapshot(s), before);
      const ps = await run(['ps', '-eo', 'args']);
      assert.ok(!ps.stdout.split('\n').some((l) => l.includes(s) && !l.startsWith('ps') && !l.includes('apt-ostreed')),
        'no process left for this sysroot but the daemon');
      assert.deepEqual((await readdir(join(s, 'ostree/deploy/debian/var/tmp')).catch(() => []))
        .filter((n) => n.startsWith('apt-ostree-layer-')), []);
      const st = await cli(s, ['daemon-status', '--json'], pb2.env);
      assert.equal((JSON.parse(st.stdout) as { 'active-transaction': unknown })['active-transaction'], null);
      // The next transaction works (against a healthy mirror).
      const d = (await loadSysroot(s)).deployments[0]!;
      await writeFile(join(d.path, 'etc/apt/sources.list.d/kit.list'), `${kit.aptSourcesLine(`${server.url}/apt`)}\n`);
      const again = await cli(s, ['install', 'kit-app'], pb2.env);
      assert.equal(again.code, 0, `${again.stderr}\n${d2.log()}`);
      assert.ok(!again.stderr.includes(NOTICE));
      // Its progress reached the client: tasks, and the download with its total (acceptance 3).
      assert.match(again.stderr, /^Downloading packages\.\.\.$/m);
      assert.match(again.stderr, /^Downloading packages: \d+(\.\d)? [kM]?B \/ [1-9]\d*(\.\d)? [kM]?B \(/m);
      assert.match(again.stdout, /kit-app/);

      // Mid-dpkg, from another terminal: `apt-ostree cancel` stops the postinst within seconds.
      const debDir = await mkdtemp(join(tmpdir(), 'slow-deb-'));
      try {
        const root = join(debDir, 'root');
        await mkdir(join(root, 'DEBIAN'), { recursive: true });
        await writeFile(join(root, 'DEBIAN/control'), 'Package: kit-slow\nVersion: 1.0-1\nArchitecture: all\nMaintainer: kit <kit@example.invalid>\nDescription: a slow postinst\n');
        await writeFile(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nsleep 120\n');
        await chmod(join(root, 'DEBIAN/postinst'), 0o755);
        await run(['dpkg-deb', '--build', '--root-owner-group', root, join(debDir, 'kit-slow.deb')]);
        const beforeSlow = await snapshot(s);
        const started = Date.now();
        const slow = spawn(process.execPath, [CLI, '--sysroot', s, 'install', join(debDir, 'kit-slow.deb')],
          { env: pb2.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let slowErr = '';
        const configuring = new Promise<void>((resolve) => {
          slow.stderr.on('data', (b: Buffer) => {
            slowErr += b.toString();
            if (/Configuring/.test(slowErr)) resolve();
          });
        });
        const slowCode = new Promise<number>((resolve) => slow.on('close', (c) => { resolve(c ?? 1); }));
        await Promise.race([configuring, slowCode]);
        await new Promise((r) => setTimeout(r, 300));
        const c = await cli(s, ['cancel'], pb2.env);
        assert.equal(c.code, 0, `${c.stderr}\n${d2.log()}`);
        assert.match(c.stdout, /^Cancelled: install .*kit-slow\.deb \(started by /);
        assert.equal(await slowCode, 130, `${slowErr}\n${d2.log()}`);
        assert.match(slowErr, /error\[cancelled\]/);
        assert.ok(Date.now() - started < 30_000, 'cancelled within seconds');
        assert.equal(await snapshot(s), beforeSlow);
        assert.ok(!(await run(['ps', '-eo', 'args'])).stdout.includes('sleep 120'), 'the postinst is stopped');
      } finally {
        await rm(debDir, { recursive: true, force: true });
      }
    } finally {
      await d2.stop();
      await pb2.stop();
      await stalling.close();
    }
  });
});
