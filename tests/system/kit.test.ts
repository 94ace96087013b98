/**
 * The test kit and the base image transform, with real tools (run as root):
 *   cd /work/main && node --import tsx --test tests/system/kit.test.ts
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkBaseImageContract, formatViolations } from '../../src/core/compose/contract-check.js';
import { applyBaseImageContract } from '../../src/core/compose/contract.js';
import { parseTmpfilesDeclarations } from '../../src/core/compose/tmpfiles.js';
import { writeFileByRename } from '../../src/core/compose/tree-fs.js';
import { convertVarToTmpfiles } from '../../src/core/compose/var-tmpfiles.js';
import { AptOstreeError } from '../../src/lib/errors.js';
import { run } from '../../src/lib/exec.js';
import { checkoutCommit, removeCheckout } from '../kit/checkout.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { getKit, type Kit, type KitBase } from '../kit/index.js';
import { SYNTHETIC_KERNEL, writeSyntheticRoot } from '../kit/synthetic-root.js';
import { newSysroot, removeSysroot } from '../kit/sysroot.js';

const BASES: readonly KitBase[] = ['v1', 'v2', 'alt'];

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `apt-ostree-test-${prefix}-`));
}

async function dpkgQuery(admindir: string): Promise<Map<string, { version: string; status: string }>> {
  const { stdout } = await run(['dpkg-query', `--admindir=${admindir}`, '-W', '-f', '${Package}\t${Version}\t${db:Status-Abbrev}\n']);
  const out = new Map<string, { version: string; status: string }>();
  for (const line of stdout.trim().split('\n')) {
    const [name = '', version = '', status = ''] = line.split('\t');
    out.set(name, { version, status: status.trim() });
  }
  return out;
}

describe('kit', () => {
  let kit: Kit;
  let server: ServedDirectory;

  before(async () => {
    kit = await getKit();
    server = await serveDirectory(kit.dir);
  });
  after(async () => {
    await server.close();
  });

  test('a second process reuses the cached kit', async () => {
    const started = performance.now();
    const { stdout } = await run(['node', '--import', 'tsx', 'tests/kit/build-cli.ts']);
    const seconds = (performance.now() - started) / 1000;
    const printed = JSON.parse(stdout) as { dir: string; commits: Record<KitBase, string> };
    assert.equal(printed.dir, kit.dir);
    assert.deepEqual(printed.commits, kit.commits);
    console.log(`kit: built in ${kit.buildSeconds}s; reused by a new process in ${seconds.toFixed(2)}s`);
  });

  test('two processes building a fresh kit dir at once build it once; crash leftovers are ignored', async () => {
    const parent = await tempDir('kitdir');
    const dir = join(parent, 'kit');
    try {
      // what a crashed build leaves: a lock of a dead process and a half-built temp dir
      await writeFile(`${dir}.lock`, '999999999\n');
      await mkdir(`${dir}.tmp-999999999-dead`);
      await writeFile(join(`${dir}.tmp-999999999-dead`, 'kit.json'), '{}');
      const env = { ...process.env, APT_OSTREE_KIT_DIR: dir };
      const build = (): Promise<{ stdout: string; stderr: string }> =>
        run(['node', '--import', 'tsx', 'tests/kit/build-cli.ts'], { env });
      const [a, b] = await Promise.all([build(), build()]);
      const parsedA = JSON.parse(a.stdout) as { dir: string; commits: Record<KitBase, string> };
      const parsedB = JSON.parse(b.stdout) as { dir: string; commits: Record<KitBase, string> };
      assert.equal(parsedA.dir, dir);
      assert.deepEqual(parsedA.commits, parsedB.commits);
      const builds = `${a.stderr}${b.stderr}`.split('\n').filter((l) => l.startsWith('kit: building'));
      assert.equal(builds.length, 1, `${a.stderr}${b.stderr}`);
      assert.deepEqual((await readdir(parent)).sort(), ['kit']);
      await run(['ostree', 'fsck', `--repo=${join(dir, 'ostree-archive')}`]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  test('the transform on a hardlinked checkout (ostree checkout -H) leaves the repository intact', async () => {
    const work = await tempDir('hardlinked');
    const repo = join(work, 'repo');
    const tree = join(work, 'tree');
    try {
      await run(['ostree', 'init', `--repo=${repo}`, '--mode=bare']);
      await run(['ostree', 'pull-local', `--repo=${repo}`, kit.archiveRepo, kit.commits.v1]);
      await run(['ostree', 'checkout', `--repo=${repo}`, '--require-hardlinks', kit.commits.v1, tree]);
      // as layering will: /var from tmpfiles.d, then packages change /var and /usr/etc
      await run(['systemd-tmpfiles', '--create', `--root=${tree}`, '--prefix=/var']);
      await writeFile(join(tree, 'var/lib/kit-filler-a/new-state'), 'new\n');
      await rm(join(tree, 'var/cache/kit-filler-a/index.cache'));
      await mkdir(join(tree, 'var/lib/ucf'));
      await writeFile(join(tree, 'var/lib/ucf/hashfile'), 'abc /etc/x\n');
      // a postinst generating an identity (by rename: an in-place write would itself corrupt the repository)
      await writeFileByRename(join(tree, 'usr/etc/machine-id'), 'generated\n');
      const report = await applyBaseImageContract(tree);
      assert.equal(report.var.unchanged, false);
      assert.deepEqual(await checkBaseImageContract(tree), []);
      const autovar = await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 'utf8');
      assert.match(autovar, /^C \/var\/lib\/kit-filler-a\/new-state - - - -$/m);
      assert.doesNotMatch(autovar, /index\.cache/);
      assert.match(await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree.conf'), 'utf8'), /^L \/var\/lib\/ucf /m);
      await run(['ostree', 'fsck', `--repo=${repo}`]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  for (const base of BASES) {
    test(`base ${base} follows the base image contract and has the right packages`, async () => {
      const tree = await checkoutCommit(kit.archiveRepo, kit.commits[base]);
      try {
        const violations = await checkBaseImageContract(tree);
        assert.deepEqual(violations, [], formatViolations(violations));
        const installed = await dpkgQuery(join(tree, 'usr/share/dpkg/database'));
        const expected = kit.basePackages[base];
        assert.deepEqual([...installed.keys()].sort(), Object.keys(expected).sort());
        for (const [name, version] of Object.entries(expected)) {
          assert.deepEqual(installed.get(name), { version, status: 'ii' }, name);
        }
        assert.equal(await readFile(join(tree, 'usr/lib/modules', kit.kernelVersion, 'initramfs.img'), 'utf8'),
          `kit dummy initramfs ${kit.kernelVersion}\n`);
      } finally {
        await removeCheckout(tree);
      }
    });
  }

  test('commit metadata: versions, v2 parent is v1, bootable, refs in the archive summary', async () => {
    const show = async (commit: string, key: string): Promise<string> =>
      (await run(['ostree', 'show', `--repo=${kit.archiveRepo}`, `--print-metadata-key=${key}`, commit])).stdout.trim();
    for (const base of BASES) assert.equal(await show(kit.commits[base], 'version'), `'${kit.versions[base]}'`);
    assert.equal(await show(kit.commits.v1, 'ostree.bootable'), 'true');
    assert.equal(await show(kit.commits.v2, 'ostree.linux'), `'${kit.kernelVersion}'`);
    const parent = (await run(['ostree', 'rev-parse', `--repo=${kit.archiveRepo}`, `${kit.refs.main}^`])).stdout.trim();
    assert.equal(parent, kit.commits.v1);
    const head = (await run(['ostree', 'rev-parse', `--repo=${kit.archiveRepo}`, kit.refs.main])).stdout.trim();
    assert.equal(head, kit.commits.v2);
    const summary = (await run(['ostree', 'summary', '--view', `--repo=${kit.archiveRepo}`])).stdout;
    for (const ref of [kit.refs.main, kit.refs.alt]) assert.ok(summary.split('\n').includes(`* ${ref}`), summary);
  });

  test('ostree fsck is clean on the kit repositories', async () => {
    await run(['ostree', 'fsck', `--repo=${kit.bareRepo}`]);
    await run(['ostree', 'fsck', `--repo=${kit.archiveRepo}`]);
  });

  test('apt reads the kit repository over HTTP against the tree\'s dpkg database', async () => {
    const tree = await checkoutCommit(kit.archiveRepo, kit.commits.v1);
    const work = await tempDir('apt');
    try {
      await mkdir(join(work, 'empty'));
      await mkdir(join(work, 'lists/partial'), { recursive: true });
      await writeFile(join(work, 'sources.list'), `${kit.aptSourcesLine(`${server.url}/apt`)}\n`);
      // APT_CONFIG is read before the host's apt.conf.d, so it can keep the host's configuration out.
      await writeFile(join(work, 'apt.conf'), [
        `Dir::Etc::main "/dev/null";`,
        `Dir::Etc::parts "${work}/empty";`,
        `Dir::Etc::sourcelist "${work}/sources.list";`,
        `Dir::Etc::sourceparts "${work}/empty";`,
        `Dir::Etc::preferencesparts "${work}/empty";`,
        `Dir::State "${work}/";`,
        `Dir::State::lists "${work}/lists/";`,
        `Dir::State::status "${tree}/usr/share/dpkg/database/status";`,
        `Dir::State::extended_states "${tree}/usr/share/apt-ostree/extended_states";`,
        `Dir::Cache "${work}/cache/";`,
        `Debug::NoLocking "true";`,
        `APT::Sandbox::User "root";`,
        `APT::Architecture "${kit.arch}";`,
        `Acquire::Languages "none";`,
        '',
      ].join('\n'));
      const env = { ...process.env, APT_CONFIG: join(work, 'apt.conf') };
      await run(['apt-get', '-q', 'update'], { env });
      const policy = async (pkg: string): Promise<string> => (await run(['apt-cache', 'policy', pkg], { env })).stdout;
      assert.match(await policy('kit-app'), /Candidate: 1\.0-1/);
      const foo = await policy('kit-libfoo1');
      assert.match(foo, /Installed: 1\.0-1/);
      assert.match(foo, /Candidate: 1\.1-1/);
      const plan = (await run(['apt-get', '-s', 'install', 'kit-app', 'kit-mailer'], { env })).stdout;
      for (const pkg of ['kit-app', 'kit-libbar1', 'kit-libbaz1', 'kit-mailer', 'kit-mta']) {
        assert.match(plan, new RegExp(`^Inst ${pkg} `, 'm'), plan);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
      await removeCheckout(tree);
    }
  });

  test('dpkg, maintainer scripts, useradd and update-alternatives run inside the tree with bubblewrap', async () => {
    const tree = await checkoutCommit(kit.archiveRepo, kit.commits.v1);
    try {
      // /var as a booted system has it, from the tree's own tmpfiles.d
      await run(['systemd-tmpfiles', '--create', `--root=${tree}`, '--prefix=/var']);
      await mkdir(join(tree, 'etc'));
      const deb = (name: string): string => `/debs/${kit.debs[name]?.split('/').pop() ?? name}`;
      const script = [
        'set -e',
        'dpkg --version | head -n 1',
        `dpkg --force-unsafe-io -i ${deb('kit-libbaz1')}`,
        `dpkg --force-unsafe-io -i ${deb('kit-predep')} ${deb('kit-daemon')} ${deb('kit-alternatives')}`,
        'kit-editor',
        'stat -c %U:%G /var/lib/kit-daemon',
      ].join('\n');
      const { stdout } = await run(['bwrap', '--bind', tree, '/', '--bind', join(tree, 'usr/etc'), '/etc',
        '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--tmpfs', '/run',
        '--ro-bind', join(kit.aptRepoDir, 'pool/main'), '/debs',
        // not --unshare-all: its user namespace maps only root, and chown to the new system user fails (EINVAL)
        '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup',
        '--die-with-parent', '--clearenv', '--setenv', 'PATH', '/usr/sbin:/usr/bin',
        '--chdir', '/', '/bin/sh', '-c', script]);
      assert.match(stdout, /Debian 'dpkg' package management program/);
      assert.match(stdout, /kit-editor 1\.0/);
      assert.match(stdout, /kitd:kitd/);
      assert.match(await readFile(join(tree, 'usr/etc/passwd'), 'utf8'), /^kitd:x:\d+:\d+:kit daemon:/m);
      assert.match(await readFile(join(tree, 'usr/etc/group'), 'utf8'), /^kitd:x:\d+:/m);
      assert.equal(await readlink(join(tree, 'usr/etc/alternatives/kit-editor')), '/usr/lib/kit-alternatives/kit-editor-real');
      const installed = await dpkgQuery(join(tree, 'usr/share/dpkg/database'));
      for (const name of ['kit-libbaz1', 'kit-predep', 'kit-daemon', 'kit-alternatives']) {
        assert.equal(installed.get(name)?.status, 'ii', name);
      }
    } finally {
      await removeCheckout(tree);
    }
  });

  test('newSysroot deploys v1 from the HTTP remote, fast', async () => {
    const started = performance.now();
    const sysroot = await newSysroot(kit, { remoteUrl: `${server.url}/ostree-archive` });
    const seconds = (performance.now() - started) / 1000;
    try {
      console.log(`newSysroot (HTTP): ${seconds.toFixed(2)}s`);
      const status = (await run(['ostree', 'admin', 'status', `--sysroot=${sysroot.path}`])).stdout;
      const deployments = status.split('\n').filter((l) => /^\*?\s*debian [0-9a-f]{64}\.\d+/.test(l));
      assert.equal(deployments.length, 1, status);
      assert.match(deployments[0] ?? '', new RegExp(`debian ${kit.commits.v1}\\.0`));
      assert.match(status, /Version: 13\.1/);
      assert.match(status, /origin refspec: kit:debian\/13\/x86_64\/kit/);
      const ref = (await run(['ostree', 'rev-parse', `--repo=${sysroot.repo}`, sysroot.refspec])).stdout.trim();
      assert.equal(ref, kit.commits.v1);
      const remoteUrl = (await run(['ostree', 'remote', 'show-url', `--repo=${sysroot.repo}`, 'kit'])).stdout.trim();
      assert.equal(remoteUrl, `${server.url}/ostree-archive`);
      const entries = await readdir(join(sysroot.path, 'boot/loader/entries'));
      assert.equal(entries.length, 1);
      const entry = await readFile(join(sysroot.path, 'boot/loader/entries', entries[0] ?? ''), 'utf8');
      assert.match(entry, /^options root=\/dev\/vda console=ttyS0 ostree=/m);
      await run(['ostree', 'fsck', `--repo=${sysroot.repo}`]);
      assert.ok(seconds < 5, `newSysroot took ${seconds}s`);
    } finally {
      await removeSysroot(sysroot.path);
    }
    await assert.rejects(lstat(sysroot.path), { code: 'ENOENT' });
  });

  test('newSysroot without a URL uses the archive repository directly', async () => {
    const sysroot = await newSysroot(kit, { osname: 'kitos', kargs: ['quiet'] });
    try {
      const status = (await run(['ostree', 'admin', 'status', `--sysroot=${sysroot.path}`])).stdout;
      assert.match(status, new RegExp(`kitos ${kit.commits.v1}\\.0`));
      const url = (await run(['ostree', 'remote', 'show-url', `--repo=${sysroot.repo}`, 'kit'])).stdout.trim();
      assert.equal(url, `file://${kit.archiveRepo}`);
    } finally {
      await removeSysroot(sysroot.path);
    }
  });
});

describe('http server', () => {
  let dir: string;
  let server: ServedDirectory;
  before(async () => {
    dir = await tempDir('http');
    await mkdir(join(dir, 'served/sub'), { recursive: true });
    await writeFile(join(dir, 'served/sub/file.txt'), 'hello\n');
    await writeFile(join(dir, 'secret.txt'), 'outside\n');
    server = await serveDirectory(join(dir, 'served'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, method = 'GET'): Promise<{ status: number; body: string; length: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = request(`${server.url}${path}`, { method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { body += chunk; });
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, length: res.headers['content-length'] }); });
      });
      req.on('error', reject);
      req.end();
    });

  test('GET and HEAD of a file, 404 for directories, missing files and escapes', async () => {
    assert.deepEqual(await get('/sub/file.txt'), { status: 200, body: 'hello\n', length: '6' });
    assert.deepEqual(await get('/sub/file.txt', 'HEAD'), { status: 200, body: '', length: '6' });
    assert.equal((await get('/sub/')).status, 404);
    assert.equal((await get('/missing')).status, 404);
    assert.equal((await get('/../secret.txt')).status, 404);
    assert.equal((await get('/%2e%2e/secret.txt')).status, 404);
    assert.equal((await get('/sub/file.txt', 'PUT')).status, 405);
  });
});

describe('base image transform on a synthetic root', () => {
  test('applies the contract: kernel, /etc, dpkg and package state, layout, /var', async () => {
    const dir = await tempDir('contract');
    const root = join(dir, 'root');
    try {
      await writeSyntheticRoot(root);
      const before = await checkBaseImageContract(root);
      assert.ok(before.some((v) => v.rule === 'etc') && before.some((v) => v.rule === 'var'), formatViolations(before));

      const report = await applyBaseImageContract(root);
      const violations = await checkBaseImageContract(root);
      assert.deepEqual(violations, [], formatViolations(violations));
      assert.equal(report.kernelVersion, SYNTHETIC_KERNEL);
      assert.equal(report.initramfs, 'present');
      assert.deepEqual(report.removedFromBoot, ['grub']);
      assert.deepEqual(report.removedSecrets.sort(), ['/usr/etc/ssh/ssh_host_rsa_key', '/usr/etc/ssh/ssh_host_rsa_key.pub']);
      assert.deepEqual(report.packageState, ['/var/cache/debconf', '/var/lib/systemd/deb-systemd-helper-enabled', '/var/lib/ucf']);

      const modules = join(root, 'usr/lib/modules', SYNTHETIC_KERNEL);
      assert.equal(await readFile(join(modules, 'vmlinuz'), 'utf8'), 'kernel\n');
      assert.equal(await readFile(join(modules, 'initramfs.img'), 'utf8'), 'initramfs\n');
      assert.equal(await readFile(join(modules, 'config'), 'utf8'), 'CONFIG_X=y\n');
      await assert.rejects(lstat(join(root, 'vmlinuz')), { code: 'ENOENT' });
      assert.equal(await readFile(join(root, 'usr/etc/ssh/sshd_config'), 'utf8'), 'PermitRootLogin no\n');
      assert.equal(await readFile(join(root, 'usr/etc/machine-id'), 'utf8'), '');

      const db = join(root, 'usr/share/dpkg/database');
      assert.deepEqual((await readdir(db)).sort(), ['info', 'status', 'triggers']);
      assert.deepEqual(await readdir(join(db, 'triggers')), []);
      assert.match(await readFile(join(root, 'usr/share/apt-ostree/extended_states'), 'utf8'), /Auto-Installed: 1/);
      const debconf = join(root, 'usr/share/apt-ostree/state/var/cache/debconf');
      assert.deepEqual(await readdir(debconf), ['config.dat']);

      const contractConf = await readFile(join(root, 'usr/lib/tmpfiles.d/apt-ostree.conf'), 'utf8');
      assert.match(contractConf, /^L \/var\/lib\/dpkg - - - - \/usr\/share\/dpkg\/database$/m);
      assert.match(contractConf, /^L \/var\/lib\/ucf - - - - \/usr\/share\/apt-ostree\/state\/var\/lib\/ucf$/m);

      const autovar = await readFile(join(root, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 'utf8');
      const lines = autovar.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      const has = (line: string): void => { assert.ok(lines.includes(line), `missing "${line}" in\n${autovar}`); };
      assert.match(contractConf, /^d \/var\/roothome 0700 0 0 -$/m);
      assert.match(contractConf, /^d \/run\/media 0755 0 0 -$/m);
      has('d /var/home/user 0755 0 0 -');
      has('C /var/home/user/.bashrc - - - -');
      has('C /var/roothome/.profile - - - -');
      has('C /var/opt/vendor/bin/tool - - - -');
      has('C /var/usrlocal/bin/local-tool - - - -');
      has('C /var/srv/www/index.html - - - -');
      has('C /var/lib/foo/data - - - -');
      has('d /var/lib/empty 0755 0 0 -');
      has('d /var/spool/cron 0755 0 0 -');
      has('L /var/lock - - - - /run/lock');
      has('d /var/log 0755 0 0 -');
      has('d /var/lib/apt/lists 0755 0 0 -');
      has('C "/var/lib/foo/with space%%and\\\\backslash" - - - -');
      const declaredHere = parseTmpfilesDeclarations(autovar, 'autovar').map((d) => d.path);
      assert.ok(declaredHere.includes('/var/lib/foo/with space%and\\backslash'), 'escaped path round-trips');
      for (const absent of ['/var/spool', '/var/declared-link', '/var/declared-link/child', '/var/log/installer.log',
        '/var/tmp/junk', '/var/lib/systemd/random-seed', '/var/cache/apt/pkgcache.bin', '/var/lib/dpkg',
        '/var/cache/debconf', '/var/media', '/var/lib/apt/lists/deb.debian.org_dists_trixie_InRelease']) {
        assert.ok(!declaredHere.includes(absent), `${absent} must not be declared`);
      }
      assert.equal(await readFile(join(root, 'usr/share/factory/var/lib/foo/with space%and\\backslash'), 'utf8'), 'odd name\n');
      assert.deepEqual(await readdir(join(root, 'var')), []);
      for (const [path, target] of [['home', 'var/home'], ['root', 'var/roothome'], ['usr/local', '../var/usrlocal'],
        ['media', 'run/media'], ['ostree', 'sysroot/ostree']]) {
        assert.equal(await readlink(join(root, path ?? '')), target);
      }
      assert.equal((await stat(join(root, 'tmp'))).mode & 0o7777, 0o1777);

      // Idempotent: applying again to a converted tree (with /var not repopulated) loses nothing.
      const again = await applyBaseImageContract(root);
      assert.deepEqual(await checkBaseImageContract(root), []);
      assert.equal(again.var.unchanged, true);
      assert.equal(await readFile(join(root, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 'utf8'), autovar);
      assert.equal(await readFile(join(root, 'usr/lib/tmpfiles.d/apt-ostree.conf'), 'utf8'), contractConf);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('/var round trip: tmpfiles --create then convert again gives the same lines and factory', async () => {
    const dir = await tempDir('roundtrip');
    const root = join(dir, 'root');
    try {
      await writeSyntheticRoot(root);
      await applyBaseImageContract(root);
      const conf = join(root, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf');
      const first = await readFile(conf, 'utf8');
      await run(['systemd-tmpfiles', '--create', `--root=${root}`, '--prefix=/var']);
      assert.equal(await readlink(join(root, 'var/lib/dpkg')), '/usr/share/dpkg/database');
      // a package "installed" since: new state, and one file gone
      await mkdir(join(root, 'var/lib/newpkg'));
      await writeFile(join(root, 'var/lib/newpkg/db'), 'new\n');
      await rm(join(root, 'var/lib/foo/data'));
      await convertVarToTmpfiles(root);
      const second = await readFile(conf, 'utf8');
      assert.match(second, /^C \/var\/lib\/newpkg\/db - - - -$/m);
      assert.doesNotMatch(second, /\/var\/lib\/foo\/data/);
      await assert.rejects(lstat(join(root, 'usr/share/factory/var/lib/foo/data')), { code: 'ENOENT' });
      const firstWithout = first.split('\n').filter((l) => !l.includes('/var/lib/foo/data'));
      const secondWithout = second.split('\n').filter((l) => !l.includes('/var/lib/newpkg'));
      assert.deepEqual(secondWithout, firstWithout);
      assert.deepEqual(await checkBaseImageContract(root), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('writes by rename only: files hardlinked to "repository objects" keep their content', async () => {
    const dir = await tempDir('hardlink');
    const root = join(dir, 'root');
    const objects = join(dir, 'objects');
    try {
      await writeSyntheticRoot(root);
      await mkdir(objects);
      // Stand-ins for repository objects that a hardlinked checkout shares with the tree.
      const shared: Record<string, string> = {
        'etc/machine-id': 'machine-id object\n',
        'usr/lib/tmpfiles.d/apt-ostree-autovar.conf': '# old generated file\nC /var/lib/old/file - - - -\n',
        'usr/share/factory/var/lib/old/file': 'old factory object\n',
        'var/lib/foo/data': 'var object\n',
      };
      let i = 0;
      const objectOf: Record<string, string> = {};
      for (const [rel, content] of Object.entries(shared)) {
        const object = join(objects, `object-${i++}`);
        await writeFile(object, content);
        await mkdir(join(root, rel, '..'), { recursive: true });
        await rm(join(root, rel), { force: true });
        await link(object, join(root, rel));
        objectOf[rel] = object;
      }
      await applyBaseImageContract(root);
      for (const [rel, content] of Object.entries(shared)) {
        assert.equal(await readFile(objectOf[rel] ?? '', 'utf8'), content, `object behind ${rel} was written to`);
      }
      const links = async (rel: string): Promise<number> => (await stat(objectOf[rel] ?? '')).nlink;
      // replaced in the tree by a new inode: the object lost the tree's name
      assert.equal(await links('etc/machine-id'), 1);
      assert.equal(await links('usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 1);
      // listed by the old generated file only, so removed from the factory
      assert.equal(await links('usr/share/factory/var/lib/old/file'), 1);
      // moved (renamed) into the factory: still the same inode, same content
      assert.equal(await links('var/lib/foo/data'), 2);
      const factoryCopy = await stat(join(root, 'usr/share/factory/var/lib/foo/data'));
      assert.equal(factoryCopy.ino, (await stat(objectOf['var/lib/foo/data'] ?? '')).ino);
      assert.equal(await readFile(join(root, 'usr/etc/machine-id'), 'utf8'), '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('refuses a root without a kernel, before changing anything', async () => {
    const dir = await tempDir('nokernel');
    const root = join(dir, 'root');
    try {
      await writeSyntheticRoot(root, { kernel: false });
      await assert.rejects(applyBaseImageContract(root), (err: unknown) => {
        assert.ok(err instanceof AptOstreeError);
        assert.equal(err.code, 'no-kernel');
        assert.match(err.message, /no kernel found/);
        assert.ok(err.hint?.includes('linux-image'));
        return true;
      });
      assert.ok((await stat(join(root, 'etc'))).isDirectory(), 'root untouched');
      assert.ok((await stat(join(root, 'var/lib/dpkg/status'))).isFile(), 'root untouched');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('refuses two kernels; reports a missing initramfs without inventing one', async () => {
    const dir = await tempDir('kernels');
    try {
      const two = join(dir, 'two');
      await writeSyntheticRoot(two, { extraKernel: '6.2.0-other' });
      await assert.rejects(applyBaseImageContract(two), { code: 'invalid-rootfs' });

      const noInitrd = join(dir, 'noinitrd');
      await writeSyntheticRoot(noInitrd, { initramfs: false });
      const report = await applyBaseImageContract(noInitrd);
      assert.equal(report.initramfs, 'missing');
      assert.ok(report.warnings.some((w) => w.includes('no initramfs')));
      await assert.rejects(lstat(join(noInitrd, 'usr/lib/modules', SYNTHETIC_KERNEL, 'initramfs.img')), { code: 'ENOENT' });
      const violations = await checkBaseImageContract(noInitrd);
      assert.deepEqual(violations.map((v) => v.rule), ['initramfs']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('refuses a root without a dpkg database', async () => {
    const dir = await tempDir('nodb');
    const root = join(dir, 'root');
    try {
      await writeSyntheticRoot(root);
      await rm(join(root, 'var/lib/dpkg'), { recursive: true });
      await assert.rejects(applyBaseImageContract(root), { code: 'no-package-database' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
