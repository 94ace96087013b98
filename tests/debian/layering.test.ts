/**
 * Package layering with real Debian packages: `apt-ostree install` on a sysroot that deploys the real trixie base
 * (tests/debian/base.ts), with the deployment's apt pointed at the Debian archive the host uses (read at run time,
 * tests/debian/host-sources.ts). The real-Debian half of tests/system/layering.test.ts: a plain program (htop), a
 * daemon with a system user and an enabled service (chrony), and a package whose postinst makes machine secrets
 * (openssh-server). Needs root and the network (the Debian archive only).
 *
 * The tests run in order on one sysroot: its /var/cache/apt-ostree (package lists, .debs) is shared, and each test
 * starts from the deployment the one before left.
 *
 *   node build.mjs && node --import tsx --test tests/debian/layering.test.ts
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test, type TestContext } from 'node:test';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { loadSysroot } from '../../src/core/sysroot/sysroot.js';
import { cliJson, cliOk, fsckClean, type StatusJson } from '../system/support.js';
import { getDebianBase, type DebianBase } from './base.js';
import { hostDebianArchive } from '../../src/core/compose/archive-sources.js';
import { newDebianSysroot, removeDebianSysroot, useHostArchive, type DebianSysroot } from './sysroot.js';

const skip = process.getuid?.() !== 0 ? 'needs root (mmdebstrap --mode=root, ostree admin, bwrap)' : false;
const DPKG_DATABASE = 'usr/share/dpkg/database';
const SYSUSERS_FRAGMENT = 'usr/lib/sysusers.d/apt-ostree-layered.conf';

const status = (s: string): Promise<StatusJson> => cliJson<StatusJson>(s, ['status']);
const current = async (s: string): Promise<string> => (await loadSysroot(s)).deployments[0]!.path;

/** dpkg's status of one package in a deployment's database (`installed`, `not-installed`, ...). */
async function dpkgStatus(deployment: string, name: string): Promise<string> {
  const r = await runUnchecked(['dpkg-query', `--admindir=${join(deployment, DPKG_DATABASE)}`, '-W',
    '-f=${db:Status-Status}', name]);
  return r.code === 0 ? r.stdout.trim() : 'unknown';
}

/**
 * Runs a command inside the deployment as a booted system (past its first boot) would see it: read-only, /etc from
 * the deployment, empty /run and /var. `binds` are more bwrap arguments (a writable scratch directory, ...).
 */
function inDeploymentUnchecked(deployment: string, argv: readonly string[], binds: readonly string[] = []):
  Promise<{ code: number; stdout: string; stderr: string }> {
  return runUnchecked(['bwrap', '--ro-bind', deployment, '/', '--ro-bind', join(deployment, 'etc'), '/etc',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/run', '--tmpfs', '/var', ...binds,
    '--unshare-pid', '--unshare-net', '--die-with-parent', '--clearenv', '--setenv', 'PATH', '/usr/sbin:/usr/bin',
    '--setenv', 'LC_ALL', 'C.UTF-8', ...argv]);
}

async function inDeployment(deployment: string, argv: readonly string[], binds: readonly string[] = []): Promise<string> {
  const r = await inDeploymentUnchecked(deployment, argv, binds);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${deployment} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Replaces a file of a deployment's /etc the way an editor does: a new file renamed over (never written in place). */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

describe('layering real Debian packages (trixie)', { skip }, () => {
  let base: DebianBase;
  let sys: DebianSysroot | undefined;
  let s = '';
  /** The id of the "booted" machine: written into the merge deployment's /etc as systemd would have at first boot. */
  const machineId = randomBytes(16).toString('hex');

  const timedInstall = async (t: TestContext, packages: string[]): Promise<string> => {
    const started = performance.now();
    const r = await cliOk(s, ['install', ...packages]);
    t.diagnostic(`apt-ostree install ${packages.join(' ')}: ${((performance.now() - started) / 1000).toFixed(1)}s`);
    return r.stdout;
  };

  before(async () => {
    base = await getDebianBase();
    sys = await newDebianSysroot(base, { prefix: 'apt-ostree-debian-layering-' });
    s = sys.path;
    // mmdebstrap's sources.list names the archive of the build, without Signed-By: the host's archive replaces it.
    await useHostArchive(sys.deployment, await hostDebianArchive());
  });
  afterEach(async () => {
    if (s !== '') await fsckClean(s);
  });
  after(async () => {
    if (sys) await removeDebianSysroot(sys.work);
  });

  test('install htop: installed, dpkg audits clean, runs; status shows the request; rollback returns', async (t) => {
    const out = await timedInstall(t, ['htop']);
    assert.match(out, /^ {2}htop \S+ \S+$/m, out);
    const dep = await current(s);
    assert.ok((await lstat(join(dep, 'usr/bin/htop'))).isFile(), '/usr/bin/htop');
    assert.equal(await dpkgStatus(dep, 'htop'), 'installed');
    assert.equal(await dpkgStatus(sys!.deployment, 'htop'), 'unknown', 'the base deployment has no htop');
    assert.equal(await inDeployment(dep, ['dpkg', `--admindir=/${DPKG_DATABASE}`, '--audit']), '');
    assert.match(await inDeployment(dep, ['htop', '--version']), /^htop \d+\.\d+/);

    const st = await status(s);
    assert.deepEqual(st.deployments[0]!['requested-packages'], ['htop']);
    assert.deepEqual(st.deployments[0]!.packages, ['htop']);
    assert.equal(st.deployments[0]!['base-checksum'], base.commit);
    assert.notEqual(st.deployments[0]!.checksum, base.commit, 'a layered commit');
    assert.equal(st.deployments[1]!.checksum, base.commit);

    await cliOk(s, ['rollback']);
    const back = await status(s);
    assert.equal(back.deployments[0]!.checksum, base.commit);
    assert.deepEqual(back.deployments[0]!['requested-packages'], []);
  });

  test('install chrony: its system user joins a changed /etc/passwd, its service is enabled', async (t) => {
    const merge = await current(s);
    // The machine has booted (systemd wrote its machine-id) and the admin added a user, by rename as an editor does.
    await replaceFile(join(merge, 'etc/machine-id'), `${machineId}\n`);
    const passwd = await readFile(join(merge, 'etc/passwd'), 'utf8');
    await replaceFile(join(merge, 'etc/passwd'), `${passwd}admin:x:1000:1000:admin:/home/admin:/bin/sh\n`);

    await timedInstall(t, ['chrony']);
    const dep = await current(s);
    assert.equal(await dpkgStatus(dep, 'chrony'), 'installed');
    const etcPasswd = await readFile(join(dep, 'etc/passwd'), 'utf8');
    const user = /^_chrony:x:(\d+):(\d+):/m.exec(etcPasswd);
    assert.ok(user, 'the new system user is in /etc/passwd');
    assert.match(etcPasswd, /^admin:x:1000:1000:/m, 'the admin\'s change is kept');
    assert.match(await readFile(join(dep, 'etc/group'), 'utf8'), new RegExp(`^_chrony:x:${user[2]!}:`, 'm'));
    const sysusers = await readFile(join(dep, SYSUSERS_FRAGMENT), 'utf8');
    assert.match(sysusers, new RegExp(`^u _chrony ${user[1]!}:${user[2]!} `, 'm'));
    assert.match(sysusers, new RegExp(`^g _chrony ${user[2]!}$`, 'm'));
    assert.match(await inDeployment(dep, ['id', '_chrony']), /_chrony/);
    // chronyd's state directory is made at boot, owned by the user.
    const tmpfiles = await Promise.all((await readdir(join(dep, 'usr/lib/tmpfiles.d')))
      .map((n) => readFile(join(dep, 'usr/lib/tmpfiles.d', n), 'utf8')));
    assert.ok(tmpfiles.some((text) => new RegExp(`^d /var/lib/chrony \\d+ (${user[1]!}|_chrony) (${user[2]!}|_chrony) `, 'm')
      .test(text)), 'a tmpfiles.d line makes /var/lib/chrony for _chrony');

    // Enabled the Debian way (deb-systemd-helper in the postinst): the symlink in /etc that systemd follows at boot,
    // in the commit's /usr/etc too (a fresh /etc gets it).
    assert.ok((await lstat(join(dep, 'usr/lib/systemd/system/chrony.service'))).isFile());
    for (const etc of ['etc', 'usr/etc']) {
      assert.equal(await readlink(join(dep, etc, 'systemd/system/multi-user.target.wants/chrony.service')),
        '/usr/lib/systemd/system/chrony.service', `${etc}/systemd/system/multi-user.target.wants/chrony.service`);
    }
    assert.equal((await runUnchecked(['systemctl', `--root=${dep}`, 'is-enabled', 'chrony.service'])).stdout.trim(), 'enabled');
    // The image has none (machineid-compat: false in examples/minimal-server.yaml), and layering keeps it so.
    await assert.rejects(readFile(join(dep, 'usr/etc/machine-id'), 'utf8'), { code: 'ENOENT' }, 'no machine-id in the commit');
  });

  test('install openssh-server on top: no host keys or machine-id in it; sshd makes its keys at boot', async (t) => {
    await timedInstall(t, ['openssh-server']);
    const dep = await current(s);
    const st = (await status(s)).deployments[0]!;
    assert.deepEqual([...st['requested-packages']].sort(), ['chrony', 'openssh-server']);
    assert.equal(await dpkgStatus(dep, 'openssh-server'), 'installed');
    assert.equal(await dpkgStatus(dep, 'chrony'), 'installed');

    // The postinst made host keys: none reached the commit (usr/etc) or the deployment's /etc.
    for (const etc of ['usr/etc', 'etc']) {
      const names = await readdir(join(dep, etc, 'ssh'));
      assert.ok(names.includes('sshd_config'), `${etc}/ssh/sshd_config`);
      assert.deepEqual(names.filter((n) => n.startsWith('ssh_host_')), [], `host keys in ${etc}/ssh`);
    }
    const keysInCommit = await run(['ostree', 'ls', `--repo=${join(s, 'ostree/repo')}`, '-R', st.checksum, '/usr/etc/ssh']);
    assert.doesNotMatch(keysInCommit.stdout, /ssh_host_/);
    // The commit has no machine-id; the deployment has the machine's own one, carried by the /etc merge.
    await assert.rejects(readFile(join(dep, 'usr/etc/machine-id'), 'utf8'), { code: 'ENOENT' });
    assert.equal(await readFile(join(dep, 'etc/machine-id'), 'utf8'), `${machineId}\n`);

    // At boot: ssh.service wants sshd-keygen.service (ssh-keygen -A), which must run although this is not the
    // machine's first boot (its machine-id is set), whenever a host key is missing.
    const systemctl = async (...args: string[]): Promise<string> =>
      (await runUnchecked(['systemctl', `--root=${dep}`, ...args])).stdout.trim();
    assert.equal(await systemctl('is-enabled', 'ssh.service'), 'enabled');
    assert.equal(await systemctl('is-enabled', 'sshd-keygen.service'), 'enabled');
    assert.match(await readFile(join(dep, 'usr/lib/systemd/system/sshd-keygen.service'), 'utf8'), /^ExecStart=.*ssh-keygen -A$/m);

    // systemd in the deployment judges the unit's conditions: on a scratch copy of /etc/ssh (writable, as on the
    // booted system) without keys they hold; the unit's ExecStart and ssh.service's ExecStartPre then succeed;
    // with the keys made they fail (the keys are not made again on every boot).
    const scratch = await mkdtemp(join(sys!.work, 'etc-ssh-'));
    try {
      await run(['cp', '-a', `${join(dep, 'etc/ssh')}/.`, scratch]);
      const binds = ['--bind', scratch, '/etc/ssh', '--dir', '/run/sshd'];
      const condition = (): Promise<{ code: number; stdout: string; stderr: string }> =>
        inDeploymentUnchecked(dep, ['systemd-analyze', 'condition', '--unit=sshd-keygen.service'], binds);
      const missing = await condition();
      assert.equal(missing.code, 0, `sshd-keygen.service would not run on a later boot:\n${missing.stderr}`);
      await inDeployment(dep, ['sh', '-c', 'ssh-keygen -A && sshd -t'], binds);
      assert.ok((await readdir(scratch)).includes('ssh_host_ed25519_key'));
      const present = await condition();
      assert.notEqual(present.code, 0, `sshd-keygen.service would run again with the keys made:\n${present.stderr}`);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  test('layering again keeps the system users of the packages layered before (_chrony next to openssh-server)', async () => {
    const dep = await current(s);
    const read = (rel: string): Promise<string> => readFile(join(dep, rel), 'utf8');
    assert.match(await read(SYSUSERS_FRAGMENT), /^u sshd /m, 'openssh-server\'s user');
    const missing: string[] = [];
    const expect = async (rel: string, re: RegExp): Promise<void> => {
      if (!re.test(await read(rel))) missing.push(`${re.source} in ${rel}`);
    };
    await expect(SYSUSERS_FRAGMENT, /^u _chrony /m);
    await expect(SYSUSERS_FRAGMENT, /^g _chrony /m);
    for (const etc of ['usr/etc', 'etc']) {
      await expect(`${etc}/passwd`, /^_chrony:/m);
      await expect(`${etc}/group`, /^_chrony:/m);
    }
    assert.deepEqual(missing, [], 'chrony\'s user and group after layering openssh-server on top');
  });
});
