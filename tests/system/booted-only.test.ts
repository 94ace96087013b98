/**
 * Issue 6 on the kit's offline sysroots: the commands that change the running system (usroverlay, apply-live, staged
 * automatic updates) refuse an offline sysroot with not-booted and change nothing; `initramfs --enable` says the kit
 * image has no dracut (tool-missing) and changes nothing; automatic updates with AutomaticUpdatePolicy none and check
 * work offline, check recording the update that `status` then shows; apply-live's copy step, on scratch trees,
 * turns a /usr into the pending one and only adds to /etc. The booted paths run in the VM test.
 * Needs root, the kit, and dist/ built (node build.mjs).
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { getKit, type Kit } from '../kit/index.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import { cli, cliOk, fsckClean, snapshot, type CliResult } from './support.js';
import { copyLiveChanges, liveRefusal, parseOstreeDiff, planLiveChanges } from '../../src/core/ops/apply-live.js';
import { diffPackages, readCommitPackages } from '../../src/core/packages.js';
import { run } from '../../src/lib/exec.js';

interface CachedUpdateJson {
  osname: string; origin: string; checksum: string; version: string | null; 'checked-at': number;
  diff: { upgraded: { name: string }[]; added: { name: string }[] } | null;
}
interface StatusWithUpdate {
  deployments: { checksum: string; 'regenerate-initramfs': boolean; 'initramfs-args': string[]; unlocked: string;
    'live-inprogress': string | null; 'live-replaced': string | null }[];
  'cached-update': CachedUpdateJson | null;
}

let kit: Kit;
let server: ServedDirectory;
let confDir: string;
const sysroots: string[] = [];
let used: string[] = [];

before(async () => {
  kit = await getKit();
  server = await serveDirectory(kit.dir);
  confDir = await mkdtemp(join(tmpdir(), 'apt-ostree-conf-'));
});
afterEach(async () => {
  for (const s of used) await fsckClean(s);
  used = [];
});
after(async () => {
  await server.close();
  for (const s of sysroots) await removeSysroot(s);
  await rm(confDir, { recursive: true, force: true });
});

async function fresh(): Promise<string> {
  const s = (await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive` })).path;
  sysroots.push(s);
  used.push(s);
  return s;
}

const status = async (s: string): Promise<StatusWithUpdate> =>
  JSON.parse((await cliOk(s, ['status', '--json'])).stdout) as StatusWithUpdate;

/** The last line of stderr: the one error line a failing command prints. */
const errorLine = (r: CliResult): string => r.stderr.trim().split('\n').at(-1) ?? '';

describe('usroverlay and apply-live', () => {
  test('refuse an offline sysroot with not-booted and change nothing', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    const before = await snapshot(s);
    for (const args of [['usroverlay'], ['usroverlay', '--hotfix'], ['unlock'], ['apply-live'], ['apply-live', '--allow-replacement']]) {
      const r = await cli(s, args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(errorLine(r), new RegExp(`^error\\[not-booted\\]: ${args[0] === 'unlock' ? 'usroverlay' : args[0]!}.* changes the running `
        + `system, and ${s} is an offline sysroot — run it on the booted machine, without --sysroot$`), args.join(' '));
      assert.equal(await snapshot(s), before, args.join(' '));
    }
    const st = await status(s);
    assert.deepEqual(st.deployments.map((d) => [d.unlocked, d['live-inprogress'], d['live-replaced']]),
      [['none', null, null], ['none', null, null]]);
  });
});

describe('initramfs', () => {
  test('the kit image has no dracut: --enable fails with tool-missing and changes nothing', async () => {
    const s = await fresh();
    assert.equal((await cliOk(s, ['initramfs'])).stdout, 'Initramfs regeneration: disabled\n');
    assert.deepEqual(JSON.parse((await cliOk(s, ['initramfs', '--json'])).stdout), { 'regenerate-initramfs': false, 'initramfs-args': [] });
    const before = await snapshot(s);
    const r = await cli(s, ['initramfs', '--enable', '--arg=--add-drivers', '--arg', 'nbd']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(errorLine(r), /^error\[tool-missing\]: initramfs regeneration needs dracut, and the image has none — .*nothing was changed$/);
    assert.equal(await snapshot(s), before);
    const tmp = join(s, 'ostree/deploy', kit.osname, 'var/tmp');
    assert.deepEqual((await readdir(tmp).catch(() => [])).filter((n) => n.startsWith('apt-ostree-')), [], 'no work tree is left');
    assert.equal((await status(s)).deployments[0]!['regenerate-initramfs'], false);
  });

  test('usage: --disable when it is off, --enable with --disable, --arg alone, an argument the origin can not hold', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const cases: [string[], RegExp][] = [
      [['initramfs', '--disable'], /^error\[nothing-to-do\]: initramfs regeneration is not enabled — /],
      [['initramfs', '--enable', '--disable'], /^error\[usage\]: --enable and --disable exclude each other/],
      [['initramfs', '--arg=--add-drivers'], /^error\[usage\]: --arg only goes with --enable/],
      [['initramfs', '--enable', '--arg=a;b'], /^error\[invalid-argument\]: 'a;b' can not be a dracut argument/],
      [['reset', '--initramfs'], /^No change\.$/],
    ];
    for (const [args, expected] of cases) {
      const r = await cli(s, args);
      assert.match(r.code === 0 ? r.stdout.trim() : errorLine(r), expected, args.join(' '));
      assert.equal(await snapshot(s), before, args.join(' '));
    }
  });
});

describe('automatic updates', () => {
  async function policy(name: string): Promise<NodeJS.ProcessEnv> {
    const file = join(confDir, `${name}.conf`);
    await writeFile(file, `[Daemon]\nAutomaticUpdatePolicy=${name}\n`);
    return { APT_OSTREED_CONFIG: file };
  }
  const trigger = ['--no-daemon', 'upgrade', '--trigger-automatic-update-policy'];

  test('none: nothing to do, nothing changed', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await cli(s, trigger, await policy('none'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Automatic updates are disabled \(AutomaticUpdatePolicy=none/);
    const json = await cli(s, [...trigger, '--json'], await policy('none'));
    assert.deepEqual(JSON.parse(json.stdout), { policy: 'none', update: null, staged: false, alreadyPending: false });
    assert.equal(await snapshot(s), before);
    assert.equal((await status(s))['cached-update'], null);
  });

  test('check: records the available update, status shows it until it is deployed', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await cli(s, trigger, await policy('check'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Available update: kit:${kit.refs.main}\\n {2}Version: 13\\.2\\n {3}Commit: ${kit.commits.v2}$`, 'm'));
    assert.match(r.stdout, /kit-libfoo1 1\.0-1 -> 1\.1-1/);
    assert.equal(await snapshot(s), before, 'a check deploys nothing');

    const cached = (await status(s))['cached-update'];
    assert.ok(cached);
    assert.equal(cached.checksum, kit.commits.v2);
    assert.equal(cached.version, '13.2');
    assert.equal(cached.origin, `kit:${kit.refs.main}`);
    assert.ok(Math.abs(cached['checked-at'] - Date.now() / 1000) < 600);
    assert.deepEqual(cached.diff?.upgraded.map((p) => p.name), ['kit-libfoo1']);
    const text = (await cliOk(s, ['status'])).stdout;
    assert.match(text, new RegExp(`^AvailableUpdate:\\n +Version: 13\\.2 \\(.*\\)\\n +Commit: ${kit.commits.v2}\\n +Diff: 1 upgraded, 1 added$`, 'm'));

    const json = JSON.parse((await cliOk(s, [...trigger, '--json'], await policy('check'))).stdout) as
      { policy: string; update: { changed: boolean; to: { checksum: string } } };
    assert.equal(json.policy, 'check');
    assert.equal(json.update.changed, true);
    assert.equal(json.update.to.checksum, kit.commits.v2);

    await cliOk(s, ['upgrade']);
    assert.equal((await status(s))['cached-update'], null, 'deployed, it is no longer an available update');
    const again = await cli(s, trigger, await policy('check'));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'No updates available.\n');
    assert.equal((await status(s))['cached-update'], null);
  });

  test('upgrade --check as root records the update too (rpm-ostree\'s AvailableUpdate)', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade', '--check']);
    assert.equal((await status(s))['cached-update']?.checksum, kit.commits.v2);
  });

  test('stage needs the booted system: not-booted offline, nothing changed; a bad policy is a parse error', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await cli(s, trigger, await policy('stage'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(errorLine(r), /^error\[not-booted\]: AutomaticUpdatePolicy=stage .* offline sysroot/);
    assert.equal(await snapshot(s), before);
    const bad = await cli(s, trigger, await policy('apply'));
    assert.equal(bad.code, 1);
    assert.match(errorLine(bad), /^error\[parse-error\]: .*AutomaticUpdatePolicy must be none, check or stage, not "apply"/);
    const mixed = await cli(s, [...trigger, '--check']);
    assert.match(errorLine(mixed), /^error\[usage\]: --trigger-automatic-update-policy takes no other upgrade option/);
    assert.equal(await snapshot(s), before);
  });
});

describe('apply-live\'s copy step, on scratch trees', () => {
  test('v1 with the plan of v1 → v2 becomes v2 in /usr; /etc only gains the new default files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'apt-ostree-live-'));
    try {
      const repo = kit.bareRepo;
      const [running, pending, etc] = ['running', 'pending', 'etc'].map((n) => join(dir, n)) as [string, string, string];
      await run(['ostree', 'checkout', `--repo=${repo}`, '--force-copy', kit.commits.v1, running]);
      await run(['ostree', 'checkout', `--repo=${repo}`, '--force-copy', kit.commits.v2, pending]);
      // The running /etc: v1's defaults, one of them changed by the administrator.
      await run(['cp', '-a', join(running, 'usr/etc'), etc]);
      await writeFile(join(etc, 'hostname'), 'admin-set\n');
      // New default files in the pending /usr/etc (the kit's v2 adds none), and one the running /etc already has.
      await writeFile(join(pending, 'usr/etc/kit-live.conf'), 'new\n');
      await mkdir(join(pending, 'usr/etc/kit-live.d'));
      await writeFile(join(pending, 'usr/etc/kit-live.d/a.conf'), 'a\n');
      await writeFile(join(pending, 'usr/etc/hostname'), 'pending-default\n');
      const synthetic = ['A    /usr/etc/kit-live.conf', 'A    /usr/etc/kit-live.d', 'A    /usr/etc/kit-live.d/a.conf',
        'A    /usr/etc/hostname'];
      const changes = parseOstreeDiff(`${(await run(['ostree', 'diff', `--repo=${repo}`, kit.commits.v1, kit.commits.v2])).stdout}\n`
        + synthetic.join('\n'));

      // Without --allow-replacement: refused, naming the upgrade.
      const packages = diffPackages(await readCommitPackages(repo, kit.commits.v1), await readCommitPackages(repo, kit.commits.v2));
      const strict = planLiveChanges(changes, () => false, false);
      assert.ok(strict.replacements.some((p) => p.endsWith('/libfoo.so.1')), strict.replacements.join(' '));
      assert.match(liveRefusal(packages, strict.replacements)?.format() ?? '',
        /^error\[live-apply-refused\]: the pending deployment upgrades kit-libfoo1: only additions are applied live — .*--allow-replacement/);

      const plan = planLiveChanges(changes, () => false, true);
      const added = await copyLiveChanges(plan, { source: join(pending, 'usr'), usr: join(running, 'usr'), etc, scratchParent: dir });
      assert.deepEqual(added, [join(etc, 'kit-live.conf'), join(etc, 'kit-live.d')]);
      // /usr is v2's now, plus the synthetic defaults in usr/etc.
      // (Against a directory, ostree diff prints added paths without their leading slash.)
      const left = (await run(['ostree', 'diff', '--no-xattrs', `--repo=${repo}`, kit.commits.v2, running])).stdout.trim().split('\n')
        .map((l) => l.replace(/^([AMD]\s+)\/?/, '$1/'));
      assert.deepEqual(left.sort(), ['A    /usr/etc/kit-live.conf', 'A    /usr/etc/kit-live.d', 'A    /usr/etc/kit-live.d/a.conf',
        'M    /usr/etc/hostname'].sort());
      assert.equal(await readFile(join(etc, 'hostname'), 'utf8'), 'admin-set\n', 'a file the admin has is never touched');
      assert.equal(await readFile(join(etc, 'kit-live.d/a.conf'), 'utf8'), 'a\n');
      assert.ok((await lstat(join(running, 'usr/bin/kit-extra-tool'))).isFile());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
