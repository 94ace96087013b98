/**
 * Treefile `local-debs` as a flat apt repository (src/core/compose/local-debs.ts), the resolution that sees it, the
 * input hash that follows the files' content, the shared .deb cache (deb-cache.ts), the resolution lock
 * (cache-lock.ts) and the one apt error mapper (apt-errors.ts). apt runs here, but only on local files.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aptFailure } from '../../../../src/core/compose/apt-errors.js';
import { mmdebstrapArguments } from '../../../../src/core/compose/bootstrap.js';
import { withFileLock } from '../../../../src/core/compose/cache-lock.js';
import { addToDebCache, takeFromDebCache } from '../../../../src/core/compose/deb-cache.js';
import { computeInputHash } from '../../../../src/core/compose/image-commit.js';
import {
  isLocalDebArchive, localDebsPreferences, localDebsRequests, localDebsSourceLine, writeLocalDebsRepo,
} from '../../../../src/core/compose/local-debs.js';
import { resolveRepos, type ResolvedRepo } from '../../../../src/core/compose/repos.js';
import { resolvePackageSet } from '../../../../src/core/compose/resolve-packages.js';
import { loadTreefile, type LoadedTreefile } from '../../../../src/core/compose/treefile/index.js';
import { AptOstreeError } from '../../../../src/lib/errors.js';
import { run } from '../../../../src/lib/exec.js';

let dir: string;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A tiny binary package built with dpkg-deb (no root needed). */
async function buildDeb(name: string, version: string, opts: { depends?: string; arch?: string; content?: string } = {}): Promise<string> {
  const stage = join(dir, `stage-${name}-${version}`);
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'DEBIAN'), { recursive: true });
  await mkdir(join(stage, 'usr/share', name), { recursive: true });
  await writeFile(join(stage, 'usr/share', name, 'content'), opts.content ?? `${name} ${version}\n`);
  await writeFile(join(stage, 'DEBIAN/control'), [
    `Package: ${name}`, `Version: ${version}`, `Architecture: ${opts.arch ?? 'all'}`, 'Maintainer: test <test@example.org>',
    ...(opts.depends !== undefined ? [`Depends: ${opts.depends}`] : []),
    `Description: ${name} for the local-debs test`, ' A second line.', '',
  ].join('\n'));
  const deb = join(dir, `${name}_${version}_${opts.arch ?? 'all'}.deb`);
  await run(['dpkg-deb', '--root-owner-group', '-Zgzip', '-b', stage, deb]);
  return deb;
}

/** A trusted file:// repository with one package (suite `t`, component `main`), as a treefile repo. */
async function archiveRepo(): Promise<string> {
  const repo = join(dir, 'archive');
  const deb = await buildDeb('test-archive-lib', '1.0');
  const bin = join(repo, 'dists/t/main/binary-amd64');
  await mkdir(bin, { recursive: true });
  await mkdir(join(repo, 'pool'), { recursive: true });
  await link(deb, join(repo, 'pool/lib.deb'));
  const control = (await run(['dpkg-deb', '--field', deb])).stdout.trimEnd();
  const packages = `${control}\nFilename: pool/lib.deb\nSize: ${(await stat(deb)).size}\nSHA256: ${sha256(await readFile(deb))}\n`;
  await writeFile(join(bin, 'Packages'), packages);
  await writeFile(join(repo, 'dists/t/Release'), `Suite: t\nCodename: t\nDate: ${new Date().toUTCString()}\nComponents: main\nArchitectures: amd64\n`
    + `SHA256:\n ${sha256(Buffer.from(packages))} ${Buffer.byteLength(packages)} main/binary-amd64/Packages\n`);
  return repo;
}

async function treefile(name: string, body: string): Promise<LoadedTreefile> {
  await writeFile(join(dir, name), body);
  return loadTreefile(join(dir, name));
}

describe('local-debs', () => {
  let archive: string;
  let app: string;
  let helper: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'apt-ostree-local-debs-'));
    archive = await archiveRepo();
    app = await buildDeb('test-local-app', '2.0-1', { depends: 'test-local-helper (= 1:0.5), test-archive-lib' });
    helper = await buildDeb('test-local-helper', '1:0.5', { arch: 'amd64' });
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const body = (extra = ''): string => [
    'ref: test/local', 'release: t', 'variant: custom', 'architecture: amd64',
    'repos:', `  - uri: file://${archive}`, '    suites: [t]', '    trusted: true',
    'local-debs: [test-local-app_2.0-1_all.deb, test-local-helper_1:0.5_amd64.deb]', extra, '',
  ].join('\n');

  test('become a flat trusted repository asked for by name, pinned in', async () => {
    const loaded = await treefile('local.yaml', body());
    const repo = await writeLocalDebsRepo(loaded, join(dir, 'repo'));
    assert.ok(repo);
    assert.deepEqual(repo.debs.map((d) => [d.name, d.version, d.architecture]), [['test-local-app', '2.0-1', 'all'], ['test-local-helper', '1:0.5', 'amd64']]);
    assert.deepEqual(localDebsRequests(repo, 'amd64'), ['test-local-app', 'test-local-helper']);
    assert.deepEqual(localDebsRequests(repo, 'arm64'), ['test-local-app', 'test-local-helper:amd64']);
    assert.equal(localDebsSourceLine(repo, 'copy'), `deb [trusted=yes] copy://${join(dir, 'repo')} ./`);
    assert.match(localDebsPreferences(repo), /^Package: test-local-app test-local-helper\nPin: release o=apt-ostree-local-debs\nPin-Priority: 1001\n$/);
    const packages = await readFile(join(dir, 'repo/Packages'), 'utf8');
    assert.match(packages, /Package: test-local-app\n[^]*Description: test-local-app for the local-debs test\n A second line\.\nFilename: \.\/local-0\.deb\nSize: \d+\nSHA256: [0-9a-f]{64}\n/);
    assert.match(await readFile(join(dir, 'repo/Release'), 'utf8'), /^Origin: apt-ostree-local-debs\n[^]*SHA256:\n [0-9a-f]{64} \d+ Packages\n$/);
    assert.equal(isLocalDebArchive(repo, 'test-local-helper_1%3a0.5_amd64.deb'), true);
    assert.equal(isLocalDebArchive(repo, 'test-archive-lib_1.0_all.deb'), false);
    assert.equal(await writeLocalDebsRepo(await treefile('none.yaml', body().replace(/^local-debs:.*$/m, '')), join(dir, 'none')), undefined);
  });

  test('the resolution installs them with their dependencies from the repositories', async () => {
    const loaded = await treefile('local.yaml', body());
    const repos = await resolveRepos(loaded.treefile);
    const packages = await resolvePackageSet({ loaded, repos, architecture: 'amd64', aptDir: join(dir, 'resolve') });
    assert.deepEqual(packages, ['test-archive-lib=1.0', 'test-local-app=2.0-1', 'test-local-helper=1:0.5']);
    // A local .deb wins over the repositories' version of it, even a higher one.
    await buildDeb('test-archive-lib', '0.9');
    const older = await treefile('older.yaml', body().replace('local-debs: [', 'local-debs: [test-archive-lib_0.9_all.deb, '));
    assert.deepEqual(await resolvePackageSet({ loaded: older, repos, architecture: 'amd64', aptDir: join(dir, 'resolve') }),
      ['test-archive-lib=0.9', 'test-local-app=2.0-1', 'test-local-helper=1:0.5']);
    // An unknown package is still reported against its treefile line, by the shared mapper.
    const bad = await treefile('bad.yaml', `${body()}packages: [test-nope]\n`);
    await assert.rejects(resolvePackageSet({ loaded: bad, repos, architecture: 'amd64', aptDir: join(dir, 'resolve') }),
      (err: unknown) => err instanceof AptOstreeError && err.code === 'unknown-package' && /bad\.yaml:\d+:\d+: package test-nope is not/.test(err.message));
  });

  test('a file that is not a .deb is an invalid-deb error at its treefile line', async () => {
    await writeFile(join(dir, 'broken.deb'), 'not a deb');
    const loaded = await treefile('broken.yaml', body().replace('test-local-helper_1:0.5_amd64.deb', 'broken.deb'));
    await assert.rejects(writeLocalDebsRepo(loaded, join(dir, 'repo-broken')),
      (err: unknown) => err instanceof AptOstreeError && err.code === 'invalid-deb' && /broken\.yaml:\d+:\d+: .*broken\.deb"? is not a valid \.deb/.test(err.message));
  });

  test('the input hash follows a local .deb\'s content, not only its name and version', async () => {
    const loaded = await treefile('local.yaml', body());
    const repos: ResolvedRepo[] = await resolveRepos(loaded.treefile);
    const pkgs = ['test-local-app=2.0-1'];
    const first = await computeInputHash(loaded, repos, 'amd64', pkgs);
    assert.equal(await computeInputHash(loaded, repos, 'amd64', pkgs), first);
    const saved = await readFile(app);
    await buildDeb('test-local-app', '2.0-1', { depends: 'test-local-helper (= 1:0.5), test-archive-lib', content: 'rebuilt\n' });
    try {
      assert.notEqual(await computeInputHash(loaded, repos, 'amd64', pkgs), first);
    } finally {
      await writeFile(app, saved);
    }
    assert.ok(helper);
  });

  test('mmdebstrap gets names, never host paths', async () => {
    const loaded = await treefile('local.yaml', body());
    const argv = mmdebstrapArguments(loaded.treefile, {
      sources: ['deb [trusted=yes] copy:///x ./'], architecture: 'amd64', root: '/r', cache: false, eatmydata: false,
      localDebs: ['test-local-app', 'test-local-helper'],
    });
    assert.ok(argv.includes('--include=test-local-app,test-local-helper'), argv.join(' '));
    assert.ok(!argv.some((a) => a.endsWith('.deb')), argv.join(' '));
  });
});

describe('the shared .deb cache', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'apt-ostree-deb-cache-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  test('composes add what they used, drop other versions of it, keep each other\'s packages and skip local ones', async () => {
    const cache = join(root, 'debs');
    await mkdir(cache);
    for (const name of ['a_1_all.deb', 'b_1_all.deb', 'other_1_amd64.deb', 'unused_1_all.deb']) await writeFile(join(cache, name), name);
    const taken = join(root, 'in');
    assert.equal(await takeFromDebCache(cache, taken, (n) => n.startsWith('b_')), 3);
    assert.deepEqual((await readdir(taken)).sort(), ['a_1_all.deb', 'other_1_amd64.deb', 'unused_1_all.deb']);
    // Taking a file counts as using it (its links change its ctime): unused_ is left alone here but taken later.
    await rm(join(taken, 'unused_1_all.deb'));

    // This build used a (the same file), b version 2 (new), and a local package.
    const out = join(root, 'out');
    await mkdir(out);
    await link(join(taken, 'a_1_all.deb'), join(out, 'a_1_all.deb'));
    await writeFile(join(out, 'b_2_all.deb'), 'b2');
    await writeFile(join(out, 'mine_1_all.deb'), 'local');
    const kept = await addToDebCache(cache, out, (n) => n.startsWith('mine_'));
    assert.deepEqual((await readdir(cache)).sort(), ['a_1_all.deb', 'b_2_all.deb', 'other_1_amd64.deb', 'unused_1_all.deb']);
    assert.equal(kept, 4);
    // The same file as before, not a copy; another compose's package is untouched.
    assert.equal((await stat(join(cache, 'a_1_all.deb'))).ino, (await stat(join(taken, 'a_1_all.deb'))).ino);
    assert.equal(await readFile(join(cache, 'other_1_amd64.deb'), 'utf8'), 'other_1_amd64.deb');

    // A month later, a build that uses only a: what nobody took since goes.
    const later = Date.now() + 31 * 24 * 3600 * 1000;
    assert.equal(await addToDebCache(cache, out, (n) => n !== 'a_1_all.deb', later), 1);
    assert.deepEqual(await readdir(cache), ['a_1_all.deb']);
  });
});

test('the cache lock makes a second holder wait for the first', async () => {
  const root = await mkdtemp(join(tmpdir(), 'apt-ostree-cache-lock-'));
  try {
    const events: string[] = [];
    let waited = false;
    let release: () => void = () => undefined;
    const firstHolds = new Promise<void>((resolve) => { release = resolve; });
    const first = withFileLock(join(root, 'lock'), async () => { events.push('first in'); await firstHolds; events.push('first out'); });
    await new Promise((r) => setTimeout(r, 300));
    const second = withFileLock(join(root, 'lock'), () => { events.push('second in'); return Promise.resolve(); }, { onWait: () => { waited = true; } });
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(events, ['first in']);
    release();
    await Promise.all([first, second]);
    assert.deepEqual(events, ['first in', 'first out', 'second in']);
    assert.equal(waited, true);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('one apt error mapper: unknown package, unreadable repository, signatures, else nothing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'apt-ostree-apt-errors-'));
  try {
    await writeFile(join(root, 't.yaml'), 'ref: t\nrepos:\n  - uri: http://127.0.0.1:9/debian\n    suites: [t]\npackages: [aa, bb]\n');
    const loaded = await loadTreefile(join(root, 't.yaml'));
    const ctx = { loaded, repos: await resolveRepos(loaded.treefile), log: '/x/mmdebstrap.log' };
    const missing = aptFailure(ctx, ['I: whatever', 'E: Unable to locate package bb']);
    assert.equal(missing?.code, 'unknown-package');
    assert.match(missing.message, /t\.yaml:5:\d+: package bb is not in the treefile's repositories/);
    assert.match(missing.hint ?? '', /\/x\/mmdebstrap\.log/);
    const fetch = aptFailure(ctx, ['Err:1 http://127.0.0.1:9/debian t InRelease', '  Connection refused']);
    assert.equal(fetch?.code, 'repository-unreachable');
    assert.match(fetch.message, /t\.yaml:3:\d+: a repository can not be read: .*127\.0\.0\.1:9/);
    const sig = aptFailure(ctx, ['Err:1 http://127.0.0.1:9/debian t InRelease',
      '  The following signatures couldn\'t be verified because the public key is not available: NO_PUBKEY 0123']);
    assert.equal(sig?.code, 'signature-invalid');
    assert.equal(aptFailure(ctx, ['E: Sub-process /usr/bin/dpkg returned an error code (1)']), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
