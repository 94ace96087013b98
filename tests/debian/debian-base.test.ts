/**
 * The slow real-Debian suite: a trixie base built with mmdebstrap from the Debian archive (tests/debian/base.ts,
 * cached between runs) follows the base image contract, deploys into an OSTree sysroot, and apt-ostree agrees with
 * ostree and dpkg about it. Needs root and, for the first build, the network.
 *
 *   node build.mjs && node --import tsx --test tests/debian/debian-base.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lstat, mkdir, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checkBaseImageContract, formatViolations } from '../../src/core/compose/contract-check.js';
import { run, runUnchecked } from '../../src/lib/exec.js';
import {
  adminStatus, bootOptions, cliJson, cliOk, fsckClean, type StatusJson,
} from '../system/support.js';
import { getDebianBase, type DebianBase } from './base.js';
import { newDebianSysroot, REMOTE, removeDebianSysroot } from './sysroot.js';

const DPKG_DATABASE = 'usr/share/dpkg/database';
const skip = process.getuid?.() !== 0 ? 'needs root (mmdebstrap --mode=root, ostree admin, bwrap)' : false;

interface DbListJson {
  checksum: string;
  version: string | null;
  packages: { name: string; version: string; architecture: string }[];
}

describe('real Debian base image (trixie, mmdebstrap)', { skip }, () => {
  let base: DebianBase;
  let work = '';
  let sysroot: string;
  let checkout: string;
  let deployment: string;
  const started = Date.now();
  const progress = (line: string): void => {
    process.stderr.write(`debian-base [${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  };

  before(async () => {
    base = await getDebianBase();
    progress(`deploying ${base.ref} ${base.commit.slice(0, 12)}`);
    const s = await newDebianSysroot(base);
    ({ work, path: sysroot, deployment } = s);
    // A hardlinked checkout of the commit as it is (the deployment has an /etc merged by ostree): read only.
    checkout = join(work, 'checkout');
    await run(['ostree', 'checkout', `--repo=${s.repo}`, '--require-hardlinks', base.commit, checkout]);
    progress(`sysroot ready in ${sysroot}`);
  });

  after(async () => {
    await removeDebianSysroot(work);
  });

  test('the base commit follows the base image contract', async () => {
    const violations = await checkBaseImageContract(checkout);
    assert.deepEqual(violations, [], formatViolations(violations));
    // Nothing of the build host travels in the image.
    for (const name of ['hostname', 'resolv.conf']) {
      await assert.rejects(lstat(join(checkout, 'usr/etc', name)), { code: 'ENOENT' }, `/usr/etc/${name}`);
    }
  });

  test('the commit is bootable, versioned and carries the kernel', async () => {
    const repo = join(sysroot, 'ostree/repo');
    const meta = async (key: string): Promise<string> =>
      (await run(['ostree', 'show', `--repo=${repo}`, `--print-metadata-key=${key}`, base.commit])).stdout.trim();
    assert.equal(await meta('version'), `'${base.version}'`);
    assert.equal(await meta('ostree.bootable'), 'true');
    assert.equal(await meta('ostree.linux'), `'${base.kernelVersion}'`);
    const modules = join(checkout, 'usr/lib/modules', base.kernelVersion);
    assert.deepEqual((await readdir(modules)).filter((n) => ['vmlinuz', 'initramfs.img'].includes(n)).sort(),
      ['initramfs.img', 'vmlinuz']);
    // ostree copied kernel and initramfs to the sysroot's /boot and wrote a boot entry for them.
    const options = await bootOptions(sysroot);
    assert.equal(options.length, 1);
    assert.ok(options[0]!.split(' ').includes('root=/dev/vda'), options[0]);
  });

  test('apt-ostree status --json agrees with ostree admin status', async () => {
    const reference = await adminStatus(sysroot);
    const json = await cliJson<StatusJson>(sysroot, ['status']);
    assert.equal(reference.length, 1);
    assert.deepEqual(
      json.deployments.map((d) => [d.osname, d.checksum, d.serial, d.pinned, d.booted]),
      reference.map((d) => [d.osname, d.checksum, d.serial, d.pinned, d.booted]),
    );
    const [d] = json.deployments;
    assert.equal(d!.checksum, base.commit);
    assert.equal(d!.version, base.version);
    assert.equal(d!.origin, `${REMOTE}:${base.ref}`);
    assert.deepEqual(d!['requested-packages'], []);
  });

  test('apt-ostree db list --json agrees with dpkg-query on the commit', async () => {
    const json = await cliJson<DbListJson>(sysroot, ['db', 'list']);
    assert.equal(json.checksum, base.commit);
    assert.equal(json.version, base.version);
    const out = (await run(['dpkg-query', `--admindir=${join(checkout, DPKG_DATABASE)}`, '-W',
      '-f=${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\n'])).stdout;
    const reference = out.split('\n').filter((l) => l.startsWith('installed\t'))
      .map((l) => l.split('\t').slice(1).join(' ')).sort();
    const ours = json.packages.map((p) => `${p.name} ${p.version} ${p.architecture}`).sort();
    assert.deepEqual(ours, reference);
    assert.equal(ours.length, base.packagesCount);
    for (const name of ['systemd', 'ostree', 'bubblewrap', 'apt', 'dpkg', 'dracut', 'adduser']) {
      assert.ok(json.packages.some((p) => p.name === name), `${name} is installed`);
    }
  });

  test('inside the deployment (bwrap, read-only): tmpfiles link the dpkg database, dpkg --audit is clean, apt works',
    async () => {
      // The deployment shares its inodes with the repo: it is only ever bound read-only. /var is a scratch
      // directory that systemd-tmpfiles fills the way it does at boot.
      const scratchVar = join(work, 'var');
      await mkdir(scratchVar);
      const sandbox = (argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => runUnchecked([
        'bwrap', '--ro-bind', deployment, '/', '--bind', scratchVar, '/var',
        '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/run',
        // No user namespace: tmpfiles chowns to system users, which only real root can do.
        '--unshare-pid', '--unshare-ipc', '--unshare-net', '--unshare-uts', '--die-with-parent',
        '--clearenv', '--setenv', 'PATH', '/usr/sbin:/usr/bin', '--setenv', 'LC_ALL', 'C.UTF-8', ...argv,
      ]);
      // Not every line applies in a sandbox (an empty machine-id, for one): the links below are what counts.
      await sandbox(['systemd-tmpfiles', '--create', '--prefix=/var']);
      assert.equal(await readlink(join(scratchVar, 'lib/dpkg')), `/${DPKG_DATABASE}`);

      const audit = await sandbox(['dpkg', '--audit']);
      assert.equal(audit.code, 0, audit.stderr);
      assert.equal(audit.stdout.trim(), '', `dpkg --audit: ${audit.stdout}`);
      const count = await sandbox(['dpkg-query', '-W', '-f=${db:Status-Status}\n']);
      assert.equal(count.stdout.split('\n').filter((s) => s === 'installed').length, base.packagesCount);

      const version = await sandbox(['apt-get', '--version']);
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^apt \d/);
      // apt reads the status file through the contract's apt.conf.d snippet and finds every dependency met.
      const check = await sandbox(['apt-get', 'check']);
      assert.equal(check.code, 0, check.stderr + check.stdout);
      const config = await sandbox(['apt-config', 'dump', 'Dir::State::status']);
      assert.match(config.stdout, new RegExp(`Dir::State::status "/${DPKG_DATABASE}/status"`));
    });

  test('apt-ostree kargs --append=quiet makes a deployment with the new arguments', async () => {
    await cliOk(sysroot, ['kargs', '--append=quiet']);
    const json = await cliJson<StatusJson>(sysroot, ['status']);
    assert.equal(json.deployments.length, 2);
    assert.ok(json.deployments[0]!.kargs.includes('quiet'));
    assert.ok(json.deployments[0]!.kargs.includes('root=/dev/vda'));
    assert.ok(!json.deployments[1]!.kargs.includes('quiet'), 'the previous deployment keeps its arguments');
    const [newest] = await bootOptions(sysroot);
    assert.deepEqual(newest!.split(' ').sort(), ['quiet', 'root=/dev/vda']);
    assert.deepEqual((await adminStatus(sysroot)).map((d) => d.checksum), [base.commit, base.commit]);
  });

  test('ostree fsck: the repository is intact after everything above', async () => {
    // The deployments and the checkout share inodes with the repo: nothing above may have written through them.
    await fsckClean(sysroot);
  });
});
