import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/lib/exec.js';
import { SysrootLock } from '../../src/core/sysroot/lock.js';
import { getKit, type Kit } from '../kit/index.js';
import { serveDirectory } from '../kit/http.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import {
  adminStatus, bootOptions, cli, cliJson, cliOk, fsckClean, snapshot, type StatusJson,
} from './support.js';

let kit: Kit;
let server: { url: string; close(): Promise<void> };
const sysroots: string[] = [];
let usedByThisTest: string[] = [];

before(async () => {
  kit = await getKit();
  server = await serveDirectory(kit.dir);
});
// Acceptance: `ostree fsck` is clean after every test, the failing ones included.
afterEach(async () => {
  for (const s of usedByThisTest) await fsckClean(s);
  usedByThisTest = [];
});
after(async () => {
  await server.close();
  for (const s of sysroots) await removeSysroot(s);
});

async function fresh(): Promise<string> {
  const s = (await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive`, aptUrl: `${server.url}/apt` })).path;
  sysroots.push(s);
  usedByThisTest.push(s);
  return s;
}

const status = (s: string): Promise<StatusJson> => cliJson<StatusJson>(s, ['status']);

describe('status', () => {
  test('three deployments, one pinned: text and JSON agree with ostree admin status', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    await cliOk(s, ['pin', '1']);
    await cliOk(s, ['kargs', '--append=quiet']);
    const reference = await adminStatus(s);
    const json = await status(s);
    assert.equal(json.deployments.length, 3);
    assert.equal(json.transaction, null);
    assert.deepEqual(
      json.deployments.map((d) => [d.osname, d.checksum, d.serial, d.pinned, d.booted]),
      reference.map((d) => [d.osname, d.checksum, d.serial, d.pinned, d.booted]),
    );
    const [first, second, third] = json.deployments;
    assert.equal(first!.checksum, kit.commits.v2);
    assert.equal(first!.version, '13.2');
    assert.ok(first!.kargs.includes('quiet'));
    assert.equal(third!.checksum, kit.commits.v1);
    assert.equal(third!.pinned, true);
    assert.equal(second!.rollback, true);
    for (const d of json.deployments) {
      assert.equal(d.origin, `kit:${kit.refs.main}`);
      assert.equal(d.id, `${d.osname}-${d.checksum}.${d.serial}`);
      assert.ok(d.timestamp > 1_600_000_000);
      for (const key of ['base-checksum', 'requested-packages', 'packages', 'base-removals', 'base-replacements', 'staged'] as const) {
        assert.ok(key in d, key);
      }
    }
    const text = (await cliOk(s, ['status'])).stdout;
    const commits = [...text.matchAll(/Commit: ([0-9a-f]{64})/g)].map((m) => m[1]);
    assert.deepEqual(commits, reference.map((d) => d.checksum));
    assert.match(text, /Pinned: yes/);
    assert.match(text, /Version: 13\.2 \(/);
    await fsckClean(s);
  });
});

describe('upgrade over HTTP', () => {
  test('--check and --preview change nothing; upgrade deploys v2 and keeps v1 as rollback', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const check = await cliOk(s, ['upgrade', '--check']);
    assert.match(check.stdout, /Version: 13\.2/);
    assert.match(check.stdout, new RegExp(kit.commits.v2));
    const preview = await cliOk(s, ['upgrade', '--preview']);
    assert.equal(await snapshot(s), before);
    const diffPart = (out: string): string[] => {
      const lines = out.split('\n');
      const start = lines.findIndex((l) => /^(Upgraded|Downgraded|Removed|Added):/.test(l));
      return start < 0 ? [] : lines.slice(start).filter((l) => /^(Upgraded|Downgraded|Removed|Added):|^ {2}\S/.test(l));
    };
    const previewDiff = diffPart(preview.stdout);
    assert.ok(previewDiff.some((l) => /kit-libfoo1 1\.0-1 -> 1\.1-1/.test(l)), preview.stdout);

    await cliOk(s, ['upgrade']);
    const json = await status(s);
    assert.deepEqual(json.deployments.map((d) => d.checksum), [kit.commits.v2, kit.commits.v1]);
    assert.equal(json.deployments[1]!.rollback, true);
    const dbDiff = await cliOk(s, ['db', 'diff']);
    const dbLines = diffPart(dbDiff.stdout);
    assert.deepEqual(previewDiff, dbLines);

    const again = await cli(s, ['upgrade', '--check']);
    assert.equal(again.code, 77);
    assert.match(again.stdout, /No updates available/);
    await fsckClean(s);
  });
});

describe('rollback, deploy, rebase', () => {
  test('rollback swaps the two deployments, twice', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    const [a, b] = (await status(s)).deployments;
    await cliOk(s, ['rollback']);
    let ref = await adminStatus(s);
    assert.deepEqual(ref.map((d) => `${d.checksum}.${d.serial}`), [`${b!.checksum}.${b!.serial}`, `${a!.checksum}.${a!.serial}`]);
    assert.deepEqual((await status(s)).deployments.map((d) => d.checksum), ref.map((d) => d.checksum));
    await cliOk(s, ['rollback']);
    ref = await adminStatus(s);
    assert.deepEqual(ref.map((d) => d.checksum), [a!.checksum, b!.checksum]);
    // ostree itself still works on what we wrote.
    await run(['ostree', 'admin', 'deploy', `--sysroot=${s}`, '--os=debian', `kit:${kit.refs.main}`]);
    await fsckClean(s);
  });

  test("a rolled-back layered deployment keeps its base: the next change to it still finds it", async () => {
    const s = await fresh();
    const repo = join(s, 'ostree/repo');
    await cliOk(s, ['install', 'kit-app']);
    // v2 moves the remote's ref on, and the plain v1 deployment goes: only a ref of ours keeps v1 from the prunes.
    await cliOk(s, ['upgrade']);
    const refs = (await run(['ostree', 'refs', `--repo=${repo}`, 'apt-ostree/base'])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(refs, ['0', '1']);
    assert.equal((await run(['ostree', 'rev-parse', `--repo=${repo}`, 'apt-ostree/base/0', 'apt-ostree/base/1'])).stdout.split('\n')
      .filter(Boolean).sort().join(' '), [kit.commits.v1, kit.commits.v2].sort().join(' '));
    await cliOk(s, ['prune']);
    await cliOk(s, ['rollback']);
    await cliOk(s, ['install', 'kit-daemon']);
    const d = (await status(s)).deployments[0]!;
    assert.equal(d['base-checksum'], kit.commits.v1);
    assert.deepEqual([...d['requested-packages']].sort(), ['kit-app', 'kit-daemon']);
    // The v2 deployment went with the last deploy (it was neither booted nor the new one): so did its base's ref.
    assert.deepEqual((await run(['ostree', 'refs', `--repo=${repo}`, 'apt-ostree/base'])).stdout.trim(), '0');
    await fsckClean(s);
  });

  test('deploy by version and by checksum', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    await cliOk(s, ['deploy', '13.1']);
    let d = (await status(s)).deployments[0]!;
    assert.equal(d.checksum, kit.commits.v1);
    await cliOk(s, ['deploy', kit.commits.v2]);
    d = (await status(s)).deployments[0]!;
    assert.equal(d.checksum, kit.commits.v2);
    await cliOk(s, ['deploy', 'version=13.1']);
    assert.equal((await status(s)).deployments[0]!.checksum, kit.commits.v1);
    await fsckClean(s);
  });

  test('deploy by version of a commit never pulled before', async () => {
    const s = await fresh();
    await cliOk(s, ['deploy', '13.2']);
    assert.equal((await status(s)).deployments[0]!.checksum, kit.commits.v2);
  });

  test('rebase to another ref of the remote, and back with the alias checkout', async () => {
    const s = await fresh();
    await cliOk(s, ['rebase', `kit:${kit.refs.alt}`]);
    let d = (await status(s)).deployments[0]!;
    assert.equal(d.checksum, kit.commits.alt);
    assert.equal(d.origin, `kit:${kit.refs.alt}`);
    await cliOk(s, ['checkout', kit.refs.main]);
    d = (await status(s)).deployments[0]!;
    assert.equal(d.origin, `kit:${kit.refs.main}`);
    assert.equal(d.checksum, kit.commits.v2);
    await fsckClean(s);
  });
});

describe('kargs', () => {
  async function kargsCase(args: string[], expect: (old: string[]) => string[]): Promise<void> {
    const s = await fresh();
    await cliOk(s, ['kargs', '--append=console=tty0', '--append=quiet', '--append=foo=1']);
    const before = (await status(s)).deployments;
    const old = before[0]!.kargs;
    await cliOk(s, ['kargs', ...args]);
    const after = (await status(s)).deployments;
    assert.deepEqual(after[0]!.kargs, expect(old));
    assert.equal(after[0]!.checksum, before[0]!.checksum, 'same commit');
    assert.equal(after[0]!.origin, before[0]!.origin, 'same origin');
    assert.deepEqual(after[1]!.kargs, old, 'the previous deployment keeps its arguments');
    assert.deepEqual((await bootOptions(s))[0]!.split(' '), expect(old));
    await fsckClean(s);
  }

  test('prints the arguments', async () => {
    const s = await fresh();
    const r = await cliOk(s, ['kargs']);
    assert.equal(r.stdout.trim(), 'root=/dev/vda console=ttyS0');
    assert.deepEqual((await cliJson<{ kargs: string[] }>(s, ['kargs'])).kargs, ['root=/dev/vda', 'console=ttyS0']);
  });
  test('--append', () => kargsCase(['--append=a=b'], (o) => [...o, 'a=b']));
  test('--append-if-missing', () => kargsCase(['--append-if-missing=quiet', '--append-if-missing=new'], (o) => [...o, 'new']));
  test('--delete', () => kargsCase(['--delete=quiet'], (o) => o.filter((k) => k !== 'quiet')));
  test('--delete-if-present', () => kargsCase(['--delete-if-present=absent', '--delete-if-present=foo=1'], (o) => o.filter((k) => k !== 'foo=1')));
  test('--replace KEY=NEW and KEY=OLD=NEW', () => kargsCase(['--replace=foo=2', '--replace=console=tty0=tty1'],
    (o) => o.map((k) => (k === 'foo=1' ? 'foo=2' : k === 'console=tty0' ? 'console=tty1' : k))));
  test('--editor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'editor-'));
    const editor = join(dir, 'ed');
    await writeFile(editor, '#!/bin/sh\nprintf "root=/dev/vda edited=yes\\n" > "$1"\n');
    await chmod(editor, 0o755);
    const s = await fresh();
    await cliOk(s, ['kargs', '--editor'], { EDITOR: editor });
    assert.deepEqual((await status(s)).deployments[0]!.kargs, ['root=/dev/vda', 'edited=yes']);
    await rm(dir, { recursive: true });
  });
  test('--deploy-index edits the arguments of that deployment', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    await cliOk(s, ['kargs', '--deploy-index=1', '--append=from-rollback']);
    const d = (await status(s)).deployments;
    assert.equal(d[0]!.checksum, kit.commits.v1);
    assert.ok(d[0]!.kargs.includes('from-rollback'));
  });
  test('a failing edit leaves everything as it was', async () => {
    const s = await fresh();
    const before = await snapshot(s);
    const r = await cli(s, ['kargs', '--append=ok', '--delete=not-there']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error\[invalid-karg\]: .*not present — /m);
    assert.equal(await snapshot(s), before);
  });

  /** A remote of our own whose main ref moves on to images with the kargs.d files given (bootc's convention). */
  async function imageRemote(): Promise<{ url: string; image: (name: string, files: Record<string, string>) => Promise<string>; done: () => Promise<void> }> {
    const dir = await mkdtemp(join(tmpdir(), 'image-kargs-'));
    const repo = join(dir, 'repo');
    await run(['ostree', 'init', '--mode=archive', `--repo=${repo}`]);
    await run(['ostree', 'pull-local', '--depth=-1', `--repo=${repo}`, kit.archiveRepo, kit.refs.main]);
    const image = async (name: string, files: Record<string, string>): Promise<string> => {
      const overlay = join(dir, name);
      await mkdir(join(overlay, 'usr/lib/bootc/kargs.d'), { recursive: true });
      for (const [file, text] of Object.entries(files)) await writeFile(join(overlay, 'usr/lib/bootc/kargs.d', file), text);
      return (await run(['ostree', 'commit', `--repo=${repo}`, `--branch=${kit.refs.main}`, `--tree=ref=${kit.commits.v2}`,
        `--tree=dir=${overlay}`, '--owner-uid=0', '--owner-gid=0', `--subject=${name}`])).stdout.trim();
    };
    // Over HTTP, as a remote is: ostree 2022.7 fails a file:// pull of this repository (linkat: No such file).
    const served = await serveDirectory(dir);
    const done = async (): Promise<void> => {
      await served.close();
      await rm(dir, { recursive: true, force: true });
    };
    return { url: `${served.url}/repo`, image, done };
  }

  async function sysrootFollowing(url: string): Promise<string> {
    const s = (await newSysroot(kit, { remoteUrl: url, aptUrl: `${server.url}/apt` })).path;
    sysroots.push(s);
    usedByThisTest.push(s);
    return s;
  }

  test("upgrades follow the image's kargs.d: its additions appended, its removals dropped, the machine's own kept", async () => {
    const remote = await imageRemote();
    try {
      const s = await sysrootFollowing(remote.url);
      await cliOk(s, ['kargs', '--append=mine=1']);
      const v3 = await remote.image('v3', { '10-image.toml': '# the image\nkargs = ["quiet", "splash=off"]\n' });
      await cliOk(s, ['upgrade']);
      let d = (await status(s)).deployments;
      assert.equal(d[0]!.checksum, v3);
      assert.deepEqual(d[0]!.kargs, ['root=/dev/vda', 'console=ttyS0', 'mine=1', 'quiet', 'splash=off']);
      assert.deepEqual((await bootOptions(s))[0]!.split(' '), d[0]!.kargs);
      // The next image drops splash=off and adds loglevel=3 (a multi-line array, a literal string); a file for an
      // architecture this is not counts for nothing.
      const here = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
      const v4 = await remote.image('v4', {
        '10-image.toml': `kargs = [\n  "quiet",\n  'loglevel=3',\n]\nmatch-architectures = ["${here}"]\n`,
        '20-other.toml': 'kargs = ["never"]\nmatch-architectures = ["s390x"]\n',
      });
      await cliOk(s, ['upgrade']);
      d = (await status(s)).deployments;
      assert.equal(d[0]!.checksum, v4);
      assert.deepEqual(d[0]!.kargs, ['root=/dev/vda', 'console=ttyS0', 'mine=1', 'quiet', 'loglevel=3']);
      // A layering change keeps the image: the arguments stay as they are.
      await cliOk(s, ['install', 'kit-app']);
      assert.deepEqual((await status(s)).deployments[0]!.kargs, d[0]!.kargs);
    } finally {
      await remote.done();
    }
  });

  test('an image with a kernel argument that can not go on a boot entry is refused, nothing deployed', async () => {
    const remote = await imageRemote();
    try {
      await remote.image('bad', { '10-bad.toml': 'kargs = ["ostree=/elsewhere"]\n' });
      const s = await sysrootFollowing(remote.url);
      const before = await snapshot(s);
      const r = await cli(s, ['upgrade']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error\[invalid-karg\]: \/usr\/lib\/bootc\/kargs\.d\/10-bad\.toml: invalid kernel argument 'ostree=\/elsewhere' — /m);
      assert.equal(await snapshot(s), before);
    } finally {
      await remote.done();
    }
  });
});

describe('cleanup, prune, pin', () => {
  test('cleanup -r removes the rollback; pinned ones survive; -p without pending changes nothing', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    await cliOk(s, ['pin', '1']);
    await cliOk(s, ['kargs', '--append=x']);
    assert.equal((await status(s)).deployments.length, 3);
    const before = await snapshot(s);
    const p = await cliOk(s, ['cleanup', '-p']);
    assert.match(p.stdout, /Nothing to clean up/);
    assert.equal(await snapshot(s), before);
    await cliOk(s, ['cleanup', '-r']);
    const left = (await status(s)).deployments;
    assert.equal(left.length, 2);
    assert.equal(left[1]!.pinned, true);
    assert.equal(left[1]!.checksum, kit.commits.v1);
    await cliOk(s, ['unpin', '1']);
    await cliOk(s, ['cleanup', '-r']);
    assert.equal((await status(s)).deployments.length, 1);
    await fsckClean(s);
  });

  test('cleanup -b keeps deployments; prune drops history no deployment needs', async () => {
    const s = await fresh();
    const repo = join(s, 'ostree/repo');
    await cliOk(s, ['upgrade']);
    await cliOk(s, ['cleanup', '-b']);
    assert.equal((await status(s)).deployments.length, 2);
    await cliOk(s, ['cleanup', '-r']);
    await cliOk(s, ['prune']);
    const v1 = await run(['ostree', 'show', `--repo=${repo}`, kit.commits.v1], { okCodes: [0, 1] });
    assert.notEqual(v1.code, 0, 'v1 is gone after prune');
    assert.equal((await status(s)).deployments[0]!.checksum, kit.commits.v2);
    await fsckClean(s);
  });

  test('pin and unpin an index, refusing a bad one', async () => {
    const s = await fresh();
    await cliOk(s, ['pin', '0']);
    assert.equal((await adminStatus(s))[0]!.pinned, true);
    await cliOk(s, ['unpin', '0']);
    assert.equal((await adminStatus(s))[0]!.pinned, false);
    const bad = await cli(s, ['pin', '7']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error\[invalid-index\]/);
  });
});

describe('db', () => {
  async function dpkgQuery(s: string, commit: string): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'db-'));
    try {
      await run(['ostree', 'checkout', `--repo=${join(s, 'ostree/repo')}`, '--subpath=/usr/share/dpkg/database', commit, join(dir, 'db')]);
      const out = await run(['dpkg-query', `--admindir=${join(dir, 'db')}`, '-W', '-f=${Package} ${Version} ${Architecture}\\n']);
      return out.stdout.trim().split('\n').sort();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('db list agrees with dpkg-query on the same commits', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    for (const commit of [kit.commits.v1, kit.commits.v2]) {
      const list = await cliJson<{ packages: { name: string; version: string; architecture: string }[] }>(s, ['db', 'list', commit]);
      assert.deepEqual(list.packages.map((p) => `${p.name} ${p.version} ${p.architecture}`).sort(), await dpkgQuery(s, commit));
    }
    const text = await cliOk(s, ['db', 'list', '13.1', 'kit-libfoo*']);
    assert.match(text.stdout, /kit-libfoo1 1\.0-1/);
    assert.doesNotMatch(text.stdout, /kit-busybox/);
  });

  test('db diff agrees with dpkg-query on the same commits', async () => {
    const s = await fresh();
    await cliOk(s, ['upgrade']);
    const diff = await cliJson<{ diff: { added: { name: string; newVersion: string }[]; upgraded: { name: string; oldVersion: string; newVersion: string }[]; removed: unknown[] } }>(
      s, ['db', 'diff', kit.commits.v1, kit.commits.v2]);
    const [a, b] = [await dpkgQuery(s, kit.commits.v1), await dpkgQuery(s, kit.commits.v2)];
    const byName = (l: string[]): Map<string, string> => new Map(l.map((x) => [x.split(' ')[0]!, x.split(' ')[1]!]));
    const [ma, mb] = [byName(a), byName(b)];
    assert.deepEqual(diff.diff.added.map((p) => `${p.name} ${p.newVersion}`).sort(),
      [...mb].filter(([n]) => !ma.has(n)).map(([n, v]) => `${n} ${v}`).sort());
    assert.deepEqual(diff.diff.upgraded.map((p) => `${p.name} ${p.oldVersion} ${p.newVersion}`).sort(),
      [...mb].filter(([n, v]) => ma.has(n) && ma.get(n) !== v).map(([n, v]) => `${n} ${ma.get(n)!} ${v}`).sort());
    assert.equal(diff.diff.removed.length, [...ma.keys()].filter((n) => !mb.has(n)).length);
    const version = await cliJson<{ packages: number }>(s, ['db', 'version', kit.commits.v2]);
    assert.equal(version.packages, b.length);
  });
});

describe('bad input changes nothing', () => {
  async function refused(s: string, args: string[], code: RegExp): Promise<void> {
    const before = await snapshot(s);
    const r = await cli(s, args);
    assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
    // Progress lines may come first; the error itself is one line, and the last.
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('error')).length, 1, `one error line: ${r.stderr}`);
    assert.match(lines.at(-1)!, code);
    assert.match(lines.at(-1)!, / — \S/, 'with a hint');
    assert.equal(await snapshot(s), before);
    await fsckClean(s);
  }

  test('unknown revision', async () => {
    const s = await fresh();
    await refused(s, ['deploy', 'v9'], /^error\[unknown-revision\]: no commit matches 'v9' in kit:debian/);
    await refused(s, ['deploy', 'f'.repeat(64)], /^error\[unknown-revision\]/);
  });
  test('malformed refspec', async () => {
    const s = await fresh();
    await refused(s, ['rebase', 'kit:foo;rm -rf /'], /^error\[invalid-refspec\]/);
    await refused(s, ['rebase', '$(id)'], /^error\[invalid-refspec\]/);
    await refused(s, ['rebase', '../x'], /^error\[invalid-refspec\]/);
    await refused(s, ['rebase', 'kit:debian/13/none'], /^error\[unknown-revision\]/);
  });
  test('kernel argument with a newline', async () => {
    const s = await fresh();
    await refused(s, ['kargs', '--append=evil\ninit=/bin/sh'], /^error\[invalid-karg\]: invalid kernel argument 'evil\\ninit=\/bin\/sh'/);
  });
  test('--sysroot that is not an OSTree sysroot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'not-sysroot-'));
    const r = await cli(dir, ['status']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error\[not-a-sysroot\]: .* — /);
    await rm(dir, { recursive: true });
  });
  test('a second mutating command while the lock is held', async () => {
    const s = await fresh();
    const lock = await SysrootLock.acquire(s, 'test holder');
    try {
      await refused(s, ['upgrade'], /^error\[sysroot-locked\]: .*test holder/);
      await refused(s, ['kargs', '--append=x'], /^error\[sysroot-locked\]/);
    } finally {
      await lock.release();
    }
    // OSTree's own lock, held the way ostree takes it (an fcntl record lock).
    const holder: ChildProcess = spawn('perl', ['-MFcntl', '-e',
      'sysopen(my $f, $ARGV[0], O_RDWR|O_CREAT) or die; my $l = pack("s s x4 q q l x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $l) or die; $|=1; print "locked\\n"; sleep 30',
      join(s, 'ostree/lock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => { resolve(); }));
    try {
      await refused(s, ['rollback'], /^error\[sysroot-locked\]: an ostree command holds/);
    } finally {
      holder.kill();
    }
    await cliOk(s, ['upgrade']);
  });
});

test('reading needs no lock and works while one is held', async () => {
  const s = await fresh();
  const lock = await SysrootLock.acquire(s, 'holder');
  try {
    assert.equal((await status(s)).deployments.length, 1);
  } finally {
    await lock.release();
  }
  assert.ok((await readFile(join(s, 'ostree/repo/config'), 'utf8')).includes('[remote "kit"]'));
});
