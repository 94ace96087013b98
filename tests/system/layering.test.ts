import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { run } from '../../src/lib/exec.js';
import { loadSysroot } from '../../src/core/sysroot/sysroot.js';
import { getKit, type Kit } from '../kit/index.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import { CLI, cli, cliJson, cliOk, fsckClean, snapshot, type StatusJson } from './support.js';

let kit: Kit;
let server: ServedDirectory;
const sysroots: string[] = [];
let usedByThisTest: string[] = [];

before(async () => {
  kit = await getKit();
  server = await serveDirectory(kit.dir);
});
afterEach(async () => {
  for (const s of usedByThisTest) await fsckClean(s);
  usedByThisTest = [];
});
after(async () => {
  await server.close();
  for (const s of sysroots) await removeSysroot(s);
});

/** A sysroot on v1 whose deployment's apt sources point at the kit's repository. */
async function fresh(aptUrl = `${server.url}/apt`, parentDir?: string): Promise<string> {
  const s = (await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive`, aptUrl, ...(parentDir ? { parentDir } : {}) })).path;
  sysroots.push(s);
  usedByThisTest.push(s);
  return s;
}

const status = (s: string): Promise<StatusJson> => cliJson<StatusJson>(s, ['status']);
const current = async (s: string): Promise<string> => (await loadSysroot(s)).deployments[0]!.path;

async function installed(deployment: string): Promise<Map<string, string>> {
  const out = await run(['dpkg-query', `--admindir=${join(deployment, 'usr/share/dpkg/database')}`, '-W', '-f=${db:Status-Abbrev} ${Package} ${Version}\\n']);
  return new Map(out.stdout.trim().split('\n').filter((l) => l.startsWith('ii')).map((l) => {
    const [, name, version] = l.trim().split(/\s+/);
    return [name!, version!];
  }));
}

/** Runs a command inside the deployment as a booted system would see it (read-only, /etc from the deployment). */
async function inDeployment(deployment: string, argv: string[]): Promise<string> {
  const r = await run(['bwrap', '--ro-bind', deployment, '/', '--ro-bind', join(deployment, 'etc'), '/etc',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/run', '--tmpfs', '/var', ...argv]);
  return r.stdout;
}

describe('install', () => {
  test('pulls the dependency chain; dpkg says installed and audits clean; status shows it; rollback returns', async () => {
    const s = await fresh();
    const r = await cliOk(s, ['install', 'kit-app']);
    assert.match(r.stdout, /kit-libbaz1 1\.0-1 \S+ \(dependency\)/);
    const dep = await current(s);
    const pkgs = await installed(dep);
    for (const name of ['kit-app', 'kit-libbar1', 'kit-libbaz1']) assert.equal(pkgs.get(name), '1.0-1', name);
    assert.equal(pkgs.get('kit-libfoo1'), '1.0-1', 'the base is untouched');
    assert.equal(await inDeployment(dep, ['dpkg', '--admindir=/usr/share/dpkg/database', '--audit']), '');
    assert.match(await inDeployment(dep, ['/usr/bin/kit-app']), /kit-app/);
    const st = await status(s);
    assert.deepEqual(st.deployments[0]!['requested-packages'], ['kit-app']);
    assert.deepEqual(st.deployments[0]!.packages, ['kit-app']);
    assert.equal(st.deployments[0]!['base-checksum'], kit.commits.v1);
    assert.equal(st.deployments[1]!.checksum, kit.commits.v1);
    assert.match((await cliOk(s, ['status'])).stdout, /LayeredPackages: kit-app/);
    const ext = await readFile(join(dep, 'usr/share/apt-ostree/extended_states'), 'utf8');
    assert.match(ext, /Package: kit-libbaz1\n(?:.*\n)*?Auto-Installed: 1/);
    const diff = await cliOk(s, ['db', 'diff']);
    assert.match(diff.stdout, /Added:\n(?: {2}\S+\n)*? {2}kit-app-1\.0-1/, 'db diff shows the layered packages');
    await cliOk(s, ['rollback']);
    assert.equal((await status(s)).deployments[0]!.checksum, kit.commits.v1);
  });

  test('--dry-run prints the transaction and changes nothing', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await cliOk(s, ['install', '-n', 'kit-app']);
    assert.match(r.stdout, /dry run/);
    assert.match(r.stdout, /kit-app 1\.0-1/);
    assert.equal(await snapshot(s), before);
    const json = await cliJson<{ install: { name: string }[]; downloadBytes: number }>(s, ['install', '--dry-run', 'kit-app']);
    assert.deepEqual(json.install.map((p) => p.name).sort(), ['kit-app', 'kit-libbar1', 'kit-libbaz1']);
    assert.ok(json.downloadBytes > 0);
  });

  test('a postinst that adds a system user: the user exists even after /etc/passwd was changed', async () => {
    const s = await fresh();
    const merge = await current(s);
    // The admin changes /etc/passwd in the merge deployment (by rename, as an editor does).
    const passwd = await readFile(join(merge, 'etc/passwd'), 'utf8');
    await writeFile(join(merge, 'etc/passwd.new'), `${passwd}admin:x:1000:1000:admin:/home/admin:/bin/sh\n`);
    await rename(join(merge, 'etc/passwd.new'), join(merge, 'etc/passwd'));
    await cliOk(s, ['install', 'kit-daemon']);
    const dep = await current(s);
    const etcPasswd = await readFile(join(dep, 'etc/passwd'), 'utf8');
    assert.match(etcPasswd, /^kitd:x:\d+:\d+:/m, 'the new user');
    assert.match(etcPasswd, /^admin:x:1000:/m, 'the admin\'s change is kept');
    assert.match(await readFile(join(dep, 'etc/group'), 'utf8'), /^kitd:x:\d+:/m);
    assert.match(await readFile(join(dep, 'usr/lib/sysusers.d/apt-ostree-layered.conf'), 'utf8'), /^u kitd /m);
    assert.match(await inDeployment(dep, ['sh', '-c', 'id kitd']), /kitd/);
  });

  test('layering again keeps the users an earlier layering created', async () => {
    const s = await fresh();
    await cliOk(s, ['install', 'kit-daemon']);
    const uid = /^kitd:x:(\d+):/m.exec(await readFile(join(await current(s), 'etc/passwd'), 'utf8'))?.[1];
    assert.ok(uid);
    await cliOk(s, ['install', 'kit-app']);
    const dep = await current(s);
    for (const file of ['usr/etc/passwd', 'etc/passwd']) {
      assert.match(await readFile(join(dep, file), 'utf8'), new RegExp(`^kitd:x:${uid}:`, 'm'), file);
    }
    assert.match(await readFile(join(dep, 'etc/group'), 'utf8'), /^kitd:/m);
    assert.match(await readFile(join(dep, 'usr/lib/sysusers.d/apt-ostree-layered.conf'), 'utf8'), new RegExp(`^u kitd ${uid}`, 'm'));
  });

  test('conffile, systemd unit, alternatives and /opt land where a booted system finds them', async () => {
    const s = await fresh();
    await cliOk(s, ['install', 'kit-conffile', 'kit-daemon', 'kit-alternatives', 'kit-opt']);
    const dep = await current(s);
    assert.match(await readFile(join(dep, 'etc/kit-conffile.conf'), 'utf8'), /setting=default/);
    assert.match(await readFile(join(dep, 'usr/lib/systemd/system/kit-daemon.service'), 'utf8'), /WantedBy=multi-user.target/);
    assert.equal(await readlink(join(dep, 'usr/bin/kit-editor')), '/etc/alternatives/kit-editor');
    assert.equal(await readlink(join(dep, 'etc/alternatives/kit-editor')), '/usr/lib/kit-alternatives/kit-editor-real');
    assert.match(await inDeployment(dep, ['/usr/bin/kit-editor']), /kit-editor/);
    // /opt is /var/opt on an OSTree system: the layered content lives in /usr and tmpfiles links it in at boot.
    const tmpfiles = (await readdir(join(dep, 'usr/lib/tmpfiles.d'))).map((f) => f);
    const optConf = await Promise.all(tmpfiles.map((f) => readFile(join(dep, 'usr/lib/tmpfiles.d', f), 'utf8')));
    assert.ok(optConf.some((t) => /^L \/var\/opt\/kit-opt - - - - \/usr\/lib\/opt\/kit-opt$/m.test(t)), 'tmpfiles link for /opt');
    assert.match(await readFile(join(dep, 'usr/lib/opt/kit-opt/share/data.txt'), 'utf8'), /kit-opt data/);
  });
});

describe('uninstall, overrides, reset', () => {
  async function packageSetMatchesOrigin(s: string, expect: { layered: string[]; removed?: string[]; replaced?: Record<string, string> }): Promise<void> {
    const dep = await current(s);
    const pkgs = await installed(dep);
    const st = (await status(s)).deployments[0]!;
    assert.deepEqual(st['requested-packages'].sort(), [...expect.layered].sort());
    for (const name of expect.layered) assert.ok(pkgs.has(name), `${name} installed`);
    for (const name of expect.removed ?? []) assert.ok(!pkgs.has(name), `${name} removed`);
    for (const [name, version] of Object.entries(expect.replaced ?? {})) assert.equal(pkgs.get(name), version);
    for (const [name, version] of Object.entries(kit.basePackages.v1)) {
      if ((expect.removed ?? []).includes(name) || name in (expect.replaced ?? {})) continue;
      assert.equal(pkgs.get(name), version, `base package ${name}`);
    }
  }

  test('uninstall one, then --all', async () => {
    const s = await fresh();
    await cliOk(s, ['install', 'kit-app', 'kit-conffile']);
    await cliOk(s, ['uninstall', 'kit-app']);
    await packageSetMatchesOrigin(s, { layered: ['kit-conffile'] });
    assert.ok(!(await installed(await current(s))).has('kit-libbaz1'), 'dependencies go with it');
    await cliOk(s, ['install', 'kit-app']);
    await cliOk(s, ['uninstall', '--all']);
    await packageSetMatchesOrigin(s, { layered: [] });
    assert.equal((await status(s)).deployments[0]!.checksum, kit.commits.v1, 'back on the plain base commit');
  });

  test('override remove, replace and reset; reset -l and -o', async () => {
    const s = await fresh();
    await cliOk(s, ['override', 'remove', 'kit-filler-a']);
    await packageSetMatchesOrigin(s, { layered: [], removed: ['kit-filler-a'] });
    assert.deepEqual((await status(s)).deployments[0]!['base-removals'], ['kit-filler-a']);
    await cliOk(s, ['override', 'replace', 'kit-libfoo1=1.1-1']);
    await packageSetMatchesOrigin(s, { layered: [], removed: ['kit-filler-a'], replaced: { 'kit-libfoo1': '1.1-1' } });
    await cliOk(s, ['override', 'reset', 'kit-filler-a']);
    await packageSetMatchesOrigin(s, { layered: [], replaced: { 'kit-libfoo1': '1.1-1' } });
    await cliOk(s, ['install', 'kit-app']);
    await cliOk(s, ['reset', '-o']);
    await packageSetMatchesOrigin(s, { layered: ['kit-app'] });
    await cliOk(s, ['override', 'remove', 'kit-filler-a']);
    await cliOk(s, ['reset', '-l']);
    await packageSetMatchesOrigin(s, { layered: [], removed: ['kit-filler-a'] });
    await cliOk(s, ['reset']);
    assert.equal((await status(s)).deployments[0]!.checksum, kit.commits.v1);
  });

  test('override replace with a local .deb, install of a local .deb, and list marks each origin', async () => {
    const s = await fresh();
    await cliOk(s, ['override', 'replace', kit.allDebs.find((d) => d.name === 'kit-libfoo1' && d.version === '1.1-1')!.path]);
    await cliOk(s, ['install', kit.debs['kit-conffile']!]);
    const list = await cliJson<{ packages: { name: string; origin: string }[] }>(s, ['list']);
    const origin = new Map(list.packages.map((p) => [p.name, p.origin]));
    assert.equal(origin.get('kit-libfoo1'), 'override');
    assert.equal(origin.get('kit-conffile'), 'layered');
    assert.equal(origin.get('kit-busybox'), 'base');
  });
});

describe('upgrade with layered packages', () => {
  test('layering is re-applied on v2; a request v2 contains becomes inactive', async () => {
    const s = await fresh();
    await cliOk(s, ['install', 'kit-app', 'kit-extra-tools']);
    const r = await cliOk(s, ['upgrade']);
    assert.match(r.stdout, /kit-extra-tools/);
    const st = (await status(s)).deployments[0]!;
    assert.equal(st['base-checksum'], kit.commits.v2);
    assert.deepEqual(st.packages, ['kit-app']);
    assert.deepEqual(st['inactive-requests'], ['kit-extra-tools']);
    const pkgs = await installed(await current(s));
    assert.equal(pkgs.get('kit-libfoo1'), '1.1-1');
    assert.equal(pkgs.get('kit-app'), '1.0-1');
  });

  test('a new base the layering no longer fits fails clearly, never half', async () => {
    const s = await fresh();
    await cliOk(s, ['override', 'remove', 'kit-filler-b']);
    await cliOk(s, ['install', 'kit-app']);
    const deployments = async (): Promise<string> =>
      JSON.stringify((await status(s)).deployments.map((d) => [d.id, d.kargs, d.origin])) + (await readdir(join(s, 'boot/loader/entries'))).join();
    const before = await deployments();
    // kit-alt has no kit-filler-b, so the recorded override can not apply.
    const r = await cli(s, ['rebase', `kit:${kit.refs.alt}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim().split('\n').at(-1)!, /^error\[not-in-base\]: package kit-filler-b is not in the base image — /);
    assert.equal(await deployments(), before, 'the deployments are as they were');
  });

  test('base skew: refused on v1 with nothing changed, resolves on v2', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await cli(s, ['install', 'kit-skew']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\[base-skew\]: .*kit-libfoo1 1\.0-1 → 1\.1-1|error\[base-skew\]: .*kit-libfoo1.*1\.0-1.*1\.1-1/);
    assert.equal(await snapshot(s), before);
    await cliOk(s, ['upgrade']);
    await cliOk(s, ['install', 'kit-skew']);
    assert.ok((await installed(await current(s))).has('kit-skew'));
  });
});

describe('bad input changes nothing', () => {
  async function refused(s: string, args: string[], code: RegExp, env?: NodeJS.ProcessEnv): Promise<void> {
    const before = await snapshot(s);
    const r = await cli(s, args, env);
    process.stderr.write(`refused: ${r.stderr.trim().split('\n').at(-1) ?? ''}\n`);
    assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('error')).length, 1, r.stderr);
    assert.match(lines.at(-1)!, code);
    assert.match(lines.at(-1)!, / — \S/, 'with a hint');
    assert.equal(await snapshot(s), before);
  }

  test('unknown package, bad names, conflicts, failing postinst, corrupt .deb', async () => {
    const s = await fresh();
    await refused(s, ['install', 'kit-does-not-exist'], /^error\[unknown-package\]/);
    for (const bad of ['foo;rm -rf /', '$(id)', '../x', 'Foo']) {
      await refused(s, ['install', bad], /^error\[invalid-package-name\]/);
    }
    await refused(s, ['install', 'kit-conflicts'], /^error\[conflicts-with-base\]: .*kit-filler-b/);
    await refused(s, ['install', 'kit-failing'], /^error\[dpkg-failed\]: .*kit-failing/);
    const dir = await mkdtemp(join(tmpdir(), 'corrupt-'));
    await writeFile(join(dir, 'broken.deb'), 'not a deb at all');
    await refused(s, ['install', join(dir, 'broken.deb')], /^error\[invalid-deb\]/);
    await rm(dir, { recursive: true });
    assert.deepEqual(await readdir(join(s, 'ostree/deploy/debian/var/tmp')).catch(() => []), [], 'no work tree left');
  });

  test('unreachable repository', async () => {
    const s = await fresh('http://127.0.0.1:9/apt');
    await refused(s, ['install', 'kit-app'], /^error\[repository-unreachable\]/);
  });

  test('disk full in the middle', async () => {
    const mnt = await mkdtemp(join(tmpdir(), 'small-fs-'));
    await run(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
    try {
      const s = await fresh(`${server.url}/apt`, mnt);
      const packages = ['kit-app', 'kit-daemon', 'kit-opt', 'kit-alternatives', 'kit-conffile'];
      // Package lists fetched and apt's caches warm: what fails is the download or the new tree, in the middle.
      await cliOk(s, ['install', '--dry-run', ...packages]);
      const df = await run(['df', '--output=avail', '-B1', mnt]);
      const avail = Number(df.stdout.trim().split('\n')[1]);
      await run(['fallocate', '-l', String(Math.max(0, avail - 160 * 1024)), join(mnt, 'filler')]);
      await refused(s, ['install', ...packages], /^error\[disk-full\]/);
      await rm(join(mnt, 'filler'));
      await cliOk(s, ['install', 'kit-app']);
      await fsckClean(s);
    } finally {
      for (const s of sysroots.filter((x) => x.startsWith(mnt))) {
        await removeSysroot(s);
        sysroots.splice(sysroots.indexOf(s), 1);
        usedByThisTest.splice(usedByThisTest.indexOf(s), 1);
      }
      await run(['umount', mnt]);
      await rm(mnt, { recursive: true });
    }
  });
});

describe('Ctrl-C', () => {
  async function interrupt(s: string, args: string[], when: RegExp): Promise<{ code: number; stderr: string }> {
    const child = spawn(process.execPath, [CLI, '--sysroot', s, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && when.test(stderr)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => { resolve(c ?? 1); }));
    return { code, stderr };
  }

  async function noLeftovers(s: string): Promise<void> {
    const ps = await run(['ps', '-eo', 'args']);
    assert.ok(!ps.stdout.split('\n').some((l) => l.includes(s) && !l.startsWith('ps')), 'no process left for this sysroot');
    assert.deepEqual((await readdir(join(s, 'ostree/deploy/debian/var/tmp')).catch(() => [])).filter((n) => n.startsWith('apt-ostree-layer-')), []);
  }

  test('during the download', async () => {
    const stalling = await serveDirectory(kit.dir, { stall: /\.deb$/ });
    try {
      const s = await fresh(`${stalling.url}/apt`);
      const before = await snapshot(s);
      const r = await interrupt(s, ['install', 'kit-app'], /Downloading/);
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /error\[cancelled\]/);
      assert.equal(await snapshot(s), before);
      await noLeftovers(s);
      // The next transaction works (here against a healthy mirror).
      const d = (await loadSysroot(s)).deployments[0]!;
      await writeFile(join(d.path, 'etc/apt/sources.list.d/kit.list'), `${kit.aptSourcesLine(`${server.url}/apt`)}\n`);
      await cliOk(s, ['install', 'kit-app']);
    } finally {
      await stalling.close();
    }
  });

  test('during dpkg', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slow-deb-'));
    const root = join(dir, 'root');
    await mkdir(join(root, 'DEBIAN'), { recursive: true });
    await writeFile(join(root, 'DEBIAN/control'), 'Package: kit-slow\nVersion: 1.0-1\nArchitecture: all\nMaintainer: kit <kit@example.invalid>\nDescription: a slow postinst\n');
    await writeFile(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nsleep 120\n');
    await chmod(join(root, 'DEBIAN/postinst'), 0o755);
    await run(['dpkg-deb', '--build', '--root-owner-group', root, join(dir, 'kit-slow.deb')]);
    try {
      const s = await fresh();
      const before = await snapshot(s);
      const started = Date.now();
      const r = await interrupt(s, ['install', join(dir, 'kit-slow.deb')], /Configuring/);
      assert.equal(r.code, 130, r.stderr);
      assert.ok(Date.now() - started < 30_000, 'cancelled within seconds');
      assert.equal(await snapshot(s), before);
      await noLeftovers(s);
      const ps = await run(['ps', '-eo', 'args']);
      assert.ok(!ps.stdout.includes('sleep 120'), 'the postinst is stopped');
      await cliOk(s, ['install', 'kit-app']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
