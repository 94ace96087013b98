/**
 * `apt-ostree compose` on the test kit: a small treefile over the kit's apt repository composes in seconds, the
 * commit follows the base image contract file by file, the foundation's sysroot deploys it (and layers on it),
 * an unchanged second compose makes no commit, and bad treefiles fail with one positioned error and an untouched
 * repository.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkBaseImageContract } from '../../src/core/compose/contract-check.js';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { getKit, type Kit } from '../kit/index.js';
import { kitTreefile as kitTreefileText } from '../kit/treefile.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';
import { cli, cliJson, cliOk, fsckClean, type CliResult } from './support.js';

const REF = 'test/kit/composed';

interface CommitJson { ref: string; commit: string; previous?: string; changed: boolean; version: string; packages: string[]; phases: { name: string; seconds: number }[] }

let kit: Kit;
let dir: string;
let repo: string;

function kitTreefile(extra: string[] = []): string {
  return kitTreefileText(kit, { ref: REF, extra: ['metadata:', '  test.origin: compose.test', ...extra] });
}

async function compose(treefile: string, extra: readonly string[] = []): Promise<CliResult> {
  return cli('/', ['compose', 'tree', treefile, '--repo', repo, '--cachedir', join(dir, 'cache'), ...extra]);
}

async function composeJson(treefile: string): Promise<CommitJson> {
  const r = await compose(treefile, ['--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CommitJson;
}

async function repoState(): Promise<string> {
  const refs = (await run(['ostree', 'refs', `--repo=${repo}`])).stdout;
  const objects = (await run(['find', join(repo, 'objects'), '-type', 'f'])).stdout.split('\n').length;
  return `${refs}\n${objects}`;
}

describe('compose on the test kit', { timeout: 600_000 }, () => {
  before(async () => {
    kit = await getKit();
    dir = await mkdtemp(join(tmpdir(), 'apt-ostree-compose-'));
    repo = join(dir, 'repo');
    await run(['ostree', 'init', `--repo=${repo}`, '--mode=archive']);
    await writeFile(join(dir, 'motd'), 'composed by apt-ostree\n');
    await writeFile(join(dir, 'kit.yaml'), kitTreefile());
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let first: CommitJson;

  it('composes the treefile into a commit that follows the contract, file by file', async () => {
    const t0 = Date.now();
    first = await cliJson<CommitJson>('/', ['compose', 'tree', join(dir, 'kit.yaml'), '--repo', repo, '--cachedir', join(dir, 'cache')]);
    const seconds = (Date.now() - t0) / 1000;
    process.stderr.write(`compose tree (kit): ${seconds.toFixed(1)}s, phases ${first.phases.map((p) => `${p.name} ${p.seconds.toFixed(1)}s`).join(', ')}\n`);
    assert.equal(first.changed, true);
    assert.equal(first.version, '2026.11.0');
    assert.deepEqual(first.packages.map((p) => p.split('=')[0]).sort(), Object.keys(kit.basePackages.v1).sort());
    assert.equal((await run(['ostree', 'rev-parse', `--repo=${repo}`, REF])).stdout.trim(), first.commit);
    const meta = (key: string): Promise<string> => run(['ostree', 'show', `--repo=${repo}`, `--print-metadata-key=${key}`, first.commit]).then((r) => r.stdout.trim());
    assert.equal(await meta('version'), "'2026.11.0'");
    assert.match(await meta('apt-ostree.inputhash'), /^'[0-9a-f]{64}'$/);
    assert.match(await meta('apt-ostree.packages'), /'kit-libfoo1=1\.0-1'/);
    assert.equal(await meta('test.origin'), "'compose.test'");
    assert.match(await meta('ostree.linux'), /6\.12\.0-kit/);

    const checkout = join(dir, 'checkout');
    await run(['ostree', 'checkout', `--repo=${repo}`, first.commit, checkout]);
    try {
      assert.deepEqual(await checkBaseImageContract(checkout), []);
      assert.equal(await readFile(join(checkout, 'usr/etc/motd'), 'utf8'), 'composed by apt-ostree\n');
      assert.equal(await readFile(join(checkout, 'usr/etc/kit-composed'), 'utf8'), 'composed\n');
      assert.deepEqual((await readdir(join(checkout, 'usr/share/doc'))).filter((n) => n.startsWith('kit-filler-')), []);
      assert.equal(await readFile(join(checkout, 'usr/etc/machine-id'), 'utf8'), '');
      assert.deepEqual(await readdir(join(checkout, 'boot')), []);
      assert.ok((await readdir(join(checkout, 'usr/lib/modules/6.12.0-kit'))).includes('initramfs.img'));
      const sources = await readdir(join(checkout, 'usr/etc/apt/sources.list.d'));
      assert.equal(sources.length, 1);
      assert.match(await readFile(join(checkout, 'usr/etc/apt/sources.list.d', sources[0] ?? ''), 'utf8'), /URIs: file:\/\/.*\nSuites: kit\n/);
      assert.match(await readFile(join(checkout, 'usr/lib/bootc/kargs.d/10-apt-ostree-treefile.toml'), 'utf8'), /kargs = \["quiet"\]/);
    } finally {
      await rm(checkout, { recursive: true, force: true });
    }
    await run(['ostree', 'fsck', `--repo=${repo}`]);
  });

  it('the foundation\'s sysroot deploys the composed commit and layers a package on it', async () => {
    const sysroot = await newSysroot(kit);
    try {
      await run(['ostree', 'remote', 'add', `--repo=${sysroot.repo}`, '--no-gpg-verify', 'composed', `file://${repo}`, REF]);
      await cliOk(sysroot.path, ['rebase', `composed:${REF}`]);
      const status = await cliJson<{ deployments: { checksum: string; version?: string }[] }>(sysroot.path, ['status']);
      const [deployed] = status.deployments;
      assert.ok(deployed);
      assert.equal(deployed.checksum, first.commit);
      assert.equal(deployed.version, '2026.11.0');
      // The image's own apt sources (written by compose from the treefile) are what layering resolves against.
      await cliOk(sysroot.path, ['install', 'kit-app']);
      await fsckClean(sysroot.path);
    } finally {
      await removeSysroot(sysroot.path);
    }
  });

  it('a second compose with no change makes no new commit; a changed input makes the next version', async () => {
    const again = JSON.parse((await compose(join(dir, 'kit.yaml'), ['--json'])).stdout) as CommitJson;
    assert.equal(again.changed, false);
    assert.equal(again.commit, first.commit);
    // Known from apt's resolution alone: nothing was built.
    assert.deepEqual(again.phases.map((p) => p.name), ['resolve']);
    assert.equal((await run(['ostree', 'rev-parse', `--repo=${repo}`, REF])).stdout.trim(), first.commit);
    const plain = await compose(join(dir, 'kit.yaml'));
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^No change: /);

    await writeFile(join(dir, 'motd'), 'composed by apt-ostree, second edition\n');
    try {
      const next = JSON.parse((await compose(join(dir, 'kit.yaml'), ['--json'])).stdout) as CommitJson;
      assert.equal(next.changed, true);
      assert.equal(next.version, '2026.11.1');
      assert.equal(next.previous, first.commit);
      const parent = (await run(['ostree', 'rev-parse', `--repo=${repo}`, `${next.commit}^`])).stdout.trim();
      assert.equal(parent, first.commit);
    } finally {
      await writeFile(join(dir, 'motd'), 'composed by apt-ostree\n');
    }
  });

  it('local .debs from the treefile are installed, their dependencies from the repositories', async () => {
    const app = kit.debs['kit-app'];
    assert.ok(app);
    // A copy in a directory of its own: rebuilt below with other content under the same name and version.
    const local = join(dir, 'local');
    await run(['mkdir', '-p', local]);
    await run(['cp', app, join(local, 'kit-app.deb')]);
    await writeFile(join(dir, 'local.yaml'), kitTreefile(['local-debs: [local/kit-app.deb]']).replace(`ref: ${REF}`, 'ref: test/kit/local-debs'));
    const r = await composeJson(join(dir, 'local.yaml'));
    assert.equal(r.changed, true);
    const names = r.packages.map((p) => p.split('=')[0]);
    for (const name of ['kit-app', 'kit-libbar1', 'kit-libbaz1']) assert.ok(names.includes(name), `${name} in ${names.join(' ')}`);

    // The build's repository of local .debs and its pins are not part of the image's apt configuration.
    const checkout = join(dir, 'checkout-local');
    await run(['ostree', 'checkout', `--repo=${repo}`, r.commit, checkout]);
    try {
      const etcApt = (await run(['find', join(checkout, 'usr/etc/apt'), '-type', 'f'])).stdout.trim().split('\n');
      assert.deepEqual(etcApt.map((f) => f.slice(checkout.length)).filter((f) => !f.startsWith('/usr/etc/apt/apt.conf.d/')).sort(),
        [`/usr/etc/apt/sources.list.d/${(await readdir(join(checkout, 'usr/etc/apt/sources.list.d')))[0] ?? ''}`]);
      const mentions = await runUnchecked(['grep', '-rl', 'local-debs', join(checkout, 'usr/etc/apt'), join(checkout, 'usr/share/apt-ostree')]);
      assert.equal(mentions.stdout, '');
    } finally {
      await rm(checkout, { recursive: true, force: true });
    }

    // Same files, same image; the same package rebuilt with other content is another image.
    const again = await composeJson(join(dir, 'local.yaml'));
    assert.equal(again.changed, false);
    const stage = join(dir, 'kit-app-stage');
    await run(['dpkg-deb', '-R', app, stage]);
    await run(['mkdir', '-p', join(stage, 'usr/share')]);
    await writeFile(join(stage, 'usr/share/kit-app-rebuilt'), 'rebuilt\n');
    await run(['dpkg-deb', '--root-owner-group', '-b', stage, join(local, 'kit-app.deb')]);
    const rebuilt = await composeJson(join(dir, 'local.yaml'));
    assert.equal(rebuilt.changed, true);
    assert.deepEqual(rebuilt.packages, r.packages);
    const ls = await run(['ostree', 'ls', `--repo=${repo}`, rebuilt.commit, '/usr/share/kit-app-rebuilt']);
    assert.match(ls.stdout, /kit-app-rebuilt/);
  });

  it('--print-only prints the merged treefile; --dry-run writes nothing', async () => {
    const printed = JSON.parse((await cliOk('/', ['compose', 'tree', join(dir, 'kit.yaml'), '--repo', repo, '--print-only'])).stdout) as Record<string, unknown>;
    assert.equal(printed.ref, REF);
    assert.equal(printed.variant, 'custom');
    await writeFile(join(dir, 'dry.yaml'), kitTreefile(['documentation: false']));
    const beforeState = await repoState();
    const dry = await compose(join(dir, 'dry.yaml'), ['--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^Would commit test\/kit\/composed 2026\.11\.\d+ with \d+ packages/);
    assert.equal(await repoState(), beforeState);
  });

  describe('bad treefiles: one error with its position, nothing written', () => {
    const cases: { name: string; file: string; body: () => string; code: string; position?: RegExp; message: RegExp }[] = [
      { name: 'unknown key', file: 'unknown.yaml', body: () => kitTreefile(['pakages: [htop]']), code: 'treefile-invalid',
        position: /unknown\.yaml:\d+:1: /, message: /pakages.*did you mean "packages"/ },
      { name: 'wrong type', file: 'type.yaml', body: () => kitTreefile(['recommends: maybe']), code: 'treefile-invalid',
        position: /type\.yaml:\d+:\d+: /, message: /recommends/ },
      { name: 'missing ref', file: 'noref.yaml', body: () => kitTreefile().replace(`ref: ${REF}\n`, ''), code: 'treefile-invalid',
        position: /noref\.yaml:1:1: /, message: /ref/ },
      { name: 'nonexistent package', file: 'nopkg.yaml', body: () => kitTreefile().replace('packages:\n', 'packages:\n  - kit-does-not-exist\n'),
        code: 'unknown-package', position: /nopkg\.yaml:\d+:\d+: /, message: /kit-does-not-exist/ },
      { name: 'unreachable repository', file: 'norepo.yaml', body: () => kitTreefile().replace(`uri: file://${kit.aptRepoDir}`, 'uri: http://127.0.0.1:9/debian'),
        code: 'repository-unreachable', position: /norepo\.yaml:\d+:\d+: /, message: /127\.0\.0\.1:9/ },
      { name: 'failing postprocess script', file: 'post.yaml', body: () => kitTreefile().replace('  - echo composed > /etc/kit-composed', '  - echo about to fail; exit 3'),
        code: 'postprocess-failed', position: /post\.yaml:\d+:\d+: /, message: /status 3/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        await writeFile(join(dir, c.file), c.body());
        const beforeState = await repoState();
        const r = await compose(join(dir, c.file));
        assert.notEqual(r.code, 0);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('error['));
        assert.equal(errors.length, 1, r.stderr);
        const line = errors[0] ?? '';
        assert.ok(line.startsWith(`error[${c.code}]: `), line);
        if (c.position) assert.match(line, c.position);
        assert.match(line, c.message);
        assert.match(line, / — /, 'a hint follows the message');
        assert.equal(await repoState(), beforeState);
      });
    }
  });

  it('leaves no scratch directories behind', async () => {
    const left = (await readdir('/var/tmp')).filter((n) => n.startsWith('apt-ostree-compose-'));
    // Other runs may be composing at the same time; ours are removed right away, so none are older than this test.
    for (const name of left) {
      const r = await runUnchecked(['find', join('/var/tmp', name), '-maxdepth', '0', '-mmin', '+10']);
      assert.equal(r.stdout.trim(), '', `stale scratch directory ${name}`);
    }
  });
});
