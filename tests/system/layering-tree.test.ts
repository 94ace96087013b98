/**
 * The tree side of package layering with real ostree, dpkg and bubblewrap (run as root):
 *   cd /work/main && node --import tsx --test tests/system/layering-tree.test.ts
 *
 * Plans are written by hand in apt's order (the apt side is tested on its own). Every repository a test touches is
 * a fresh bare repository pulled from the kit's archive mirror (new inodes: the kit's cached repository is never
 * shared), and `ostree fsck` must be clean after every test, failures and cancellations included.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { LayeringPlan, PlannedPackage, PlanStep } from '../../src/core/apt/plan.js';
import { checkBaseImageContract, formatViolations } from '../../src/core/compose/contract-check.js';
import { parseTmpfilesDeclarations } from '../../src/core/compose/tmpfiles.js';
import { buildLayeredCommit, type LayeredBuildResult } from '../../src/core/layering/build.js';
import { readLayeredMetadata } from '../../src/core/layering/commit.js';
import { batchSteps } from '../../src/core/layering/dpkg-run.js';
import { parseDpkgFailure } from '../../src/core/layering/dpkg-failure.js';
import { formatStringArray, parseStringArray } from '../../src/core/layering/gvariant-text.js';
import { runInTree } from '../../src/core/layering/sandbox.js';
import { checkoutForLayering, removeWorkTree } from '../../src/core/layering/work-tree.js';
import { mergeUsersIntoDeployment, parsePasswd, SYSUSERS_FRAGMENT } from '../../src/core/layering/users.js';
import type { ProgressSink } from '../../src/core/progress.js';
import { AptOstreeError } from '../../src/lib/errors.js';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { pathExists } from '../../src/lib/fs.js';
import { buildDeb, type DebSpec } from '../kit/deb.js';
import { getKit, type Kit } from '../kit/index.js';
import { newSysroot, removeSysroot, type TestSysroot } from '../kit/sysroot.js';

let kit: Kit;
let scratch: string;
/** The shared test repository: v1 of the kit, layered on by most tests. */
let repo: string;
/** Repositories whose integrity is checked after the current test. */
let touched: string[] = [];
const sysroots: string[] = [];

before(async () => {
  kit = await getKit();
  // /var/tmp: the work trees must be on the repository's filesystem, and /tmp may be a tmpfs elsewhere.
  scratch = await mkdtemp('/var/tmp/apt-ostree-layering-test-');
  repo = await freshRepo('repo');
});

// The acceptance criterion above all: layering never damages the repository, whatever happened.
afterEach(async () => {
  for (const r of touched) await run(['ostree', 'fsck', '--quiet', `--repo=${r}`]);
  touched = [];
});

after(async () => {
  for (const s of sysroots) await removeSysroot(s);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A bare repository holding v1, pulled from the archive mirror so that no object shares an inode with the kit's. */
async function freshRepo(name: string): Promise<string> {
  const path = join(scratch, name);
  await run(['ostree', 'init', `--repo=${path}`, '--mode=bare']);
  await run(['ostree', 'pull-local', `--repo=${path}`, kit.archiveRepo, kit.commits.v1]);
  return path;
}

function useRepo(path: string): string {
  touched.push(path);
  return path;
}

async function workDir(name: string): Promise<string> {
  const dir = join(scratch, 'work', name);
  await mkdir(dir, { recursive: true });
  return dir;
}

// ---- plans ---------------------------------------------------------------------------------------------------

interface DebRef {
  name: string;
  version: string;
  arch: string;
  path: string;
}

function kitDeb(name: string, version?: string): DebRef {
  const candidates = kit.allDebs.filter((d) => d.name === name && (version === undefined || d.version === version));
  const deb = candidates.at(-1);
  if (!deb) throw new Error(`no kit .deb ${name} ${version ?? ''}`);
  return { name, version: deb.version, arch: deb.architecture, path: deb.path };
}

const key = (d: DebRef): string => `${d.name}:${d.arch}`;

function planned(d: DebRef, requested: boolean, baseVersion?: string): PlannedPackage {
  return { name: d.name, arch: d.arch, version: d.version, requested, debPath: d.path, baseVersion };
}

function plan(install: PlannedPackage[], steps: PlanStep[], remove: LayeringPlan['remove'] = []): LayeringPlan {
  return { install, remove, steps, downloadBytes: 0 };
}

/** Builds a .deb that is not in the kit (maintainer scripts the kit's packages do not have). */
async function testDeb(spec: Omit<DebSpec, 'architecture'>): Promise<DebRef> {
  const built = await buildDeb({ ...spec, architecture: 'all' }, join(scratch, 'debwork'), join(scratch, 'debs'), kit.arch);
  return { name: built.name, version: built.version, arch: built.architecture, path: built.path };
}

function script(body: string): string {
  return `#!/bin/sh\nset -e\n${body.trim()}\nexit 0\n`;
}

/**
 * What dh_installsystemd's postinst snippet does for a unit with WantedBy=multi-user.target, with the steps
 * deb-systemd-helper (a perl program the kit has no perl for) and deb-systemd-invoke would take: the wants
 * symlink in /etc, the enable record in /var/lib/systemd/deb-systemd-helper-enabled, then asking policy-rc.d
 * before starting. The answer and whether systemd looked alive are written down for the test.
 */
function enablingPackage(): Omit<DebSpec, 'architecture'> {
  const unit = 'kit-test-enable.service';
  return {
    name: 'kit-test-enable', version: '1.0-1', description: 'enables its unit in its postinst like dh_installsystemd',
    files: [
      { path: `/usr/lib/systemd/system/${unit}`, content: '[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n' },
      { path: '/usr/share/kit-test-enable/README', content: 'test\n' },
    ],
    scripts: {
      postinst: script(`
if [ "$1" = configure ]; then
  mkdir -p /etc/systemd/system/multi-user.target.wants
  ln -sf /usr/lib/systemd/system/${unit} /etc/systemd/system/multi-user.target.wants/${unit}
  mkdir -p /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants
  touch /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/${unit}
  echo /etc/systemd/system/multi-user.target.wants/${unit} > /var/lib/systemd/deb-systemd-helper-enabled/${unit}.dsh-also
  rc=0; /usr/sbin/policy-rc.d ${unit} start || rc=$?
  echo "$rc" > /usr/share/kit-test-enable/policy-rc.d-answer
  if [ -d /run/systemd/system ]; then echo yes; else echo no; fi > /usr/share/kit-test-enable/systemd-running
fi`),
    },
  };
}

/**
 * What real postinsts leave behind besides their files: a host key and a machine-id (openssh-server, systemd),
 * package state in /var the base did not have yet (ucf), a debconf password and backup (debconf), and a file in
 * /boot (an initramfs hook).
 */
function leftoversPackage(): Omit<DebSpec, 'architecture'> {
  return {
    name: 'kit-test-leftovers', version: '1.0-1', description: 'a postinst that leaves what real ones leave',
    files: [{ path: '/usr/share/kit-test-leftovers/README', content: 'test\n' }],
    scripts: {
      postinst: script(`
if [ "$1" = configure ]; then
  mkdir -p /etc/ssh
  echo 'private key' > /etc/ssh/ssh_host_ed25519_key
  echo 0123456789abcdef0123456789abcdef > /etc/machine-id
  mkdir -p /var/lib/ucf
  echo '0123 /etc/kit-test-leftovers.conf' > /var/lib/ucf/hashfile
  echo secret > /var/cache/debconf/passwords.dat
  echo old > /var/cache/debconf/config.dat-old
  echo initramfs > /boot/initrd.img-kit-test
fi`),
    },
  };
}

const silent: ProgressSink = { message: () => undefined, taskBegin: () => undefined, taskEnd: () => undefined, percent: () => undefined, download: () => undefined };

// ---- reading results -----------------------------------------------------------------------------------------

async function checkout(commit: string, from = repo): Promise<string> {
  const dest = join(await mkdtemp(join(scratch, 'co-')), 'tree');
  await run(['ostree', 'checkout', `--repo=${from}`, '--force-copy', commit, dest]);
  return dest;
}

async function dpkgQuery(tree: string): Promise<Map<string, { version: string; status: string }>> {
  const { stdout } = await run(['dpkg-query', `--admindir=${join(tree, 'usr/share/dpkg/database')}`, '-W', '-f',
    '${Package}\t${Version}\t${db:Status-Abbrev}\n']);
  const out = new Map<string, { version: string; status: string }>();
  for (const line of stdout.trim().split('\n')) {
    const [name = '', version = '', status = ''] = line.split('\t');
    out.set(name, { version, status: status.trim() });
  }
  return out;
}

async function findFile(root: string, name: string): Promise<string | undefined> {
  const { stdout } = await run(['find', root, '-name', name]);
  return stdout.split('\n').find((l) => l !== '');
}

async function assertRejectsWith(promise: Promise<unknown>, code: string): Promise<AptOstreeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AptOstreeError, `expected an AptOstreeError, got ${String(err)}`);
    assert.equal(err.code, code, err.format());
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

// ---- pure parts ----------------------------------------------------------------------------------------------

describe('plan replay helpers', () => {
  test('consecutive steps of one kind become one dpkg call', () => {
    const batches = batchSteps([
      { kind: 'unpack', packages: ['a:all'] }, { kind: 'unpack', packages: ['b:all'] },
      { kind: 'configure', packages: ['b:all'] }, { kind: 'configure', packages: ['a:all'] },
      { kind: 'remove', packages: ['c:all'], purge: false }, { kind: 'remove', packages: ['d:all'], purge: true },
      { kind: 'unpack', packages: ['e:all'] },
    ]);
    assert.deepEqual(batches, [
      { kind: 'unpack', packages: ['a:all', 'b:all'] },
      { kind: 'configure', packages: ['b:all', 'a:all'] },
      { kind: 'remove', packages: ['c:all'], purge: false },
      { kind: 'remove', packages: ['d:all'], purge: true },
      { kind: 'unpack', packages: ['e:all'] },
    ]);
  });

  test('dpkg failures name the package and the script', () => {
    assert.deepEqual(parseDpkgFailure([
      'Setting up x (1) ...', 'dpkg: error processing package x:amd64 (--configure):',
      ' installed x:amd64 package post-installation script subprocess returned error exit status 3',
    ]), { package: 'x', script: 'postinst', reason: 'exit status 3', action: '--configure' });
    assert.deepEqual(parseDpkgFailure([
      'dpkg: error processing archive /run/apt-ostree/debs/y_1_all.deb (--unpack):',
      ' new y package pre-installation script subprocess was killed by signal (Terminated)',
    ], (p) => (p.endsWith('y_1_all.deb') ? 'y' : undefined)),
    { package: 'y', script: 'preinst', reason: 'was killed by signal (Terminated)', action: '--unpack' });
  });

  test('string arrays survive the GVariant text round trip', () => {
    for (const values of [[], ['a=1'], ["it's", 'back\\slash', 'x"y']]) {
      assert.deepEqual(parseStringArray(formatStringArray(values)), values);
    }
    assert.deepEqual(parseStringArray('@as []'), []);
    assert.deepEqual(parseStringArray(`['a', "b'c"]`), ['a', "b'c"]);
  });
});

// ---- the work tree ---------------------------------------------------------------------------------------------

test('the work tree shares /usr with the repository; what dpkg writes in place is a private copy', async () => {
  useRepo(repo);
  const work = await workDir('checkout');
  const tree = await checkoutForLayering(repo, kit.commits.v1, work);
  try {
    assert.ok((await stat(join(tree, 'usr/bin/dpkg'))).nlink > 1, 'a hardlinked checkout');
    for (const rel of ['usr/etc/passwd', 'usr/etc/machine-id', 'usr/share/dpkg/database/status',
      'usr/share/apt-ostree/extended_states', 'usr/share/apt-ostree/state/var/lib/shells.state']) {
      assert.equal((await stat(join(tree, rel))).nlink, 1, rel);
    }
    const shadow = await stat(join(tree, 'usr/etc/shadow'));
    assert.equal(shadow.mode & 0o7777, 0o640, 'cp -a keeps modes');
    assert.deepEqual((await readdir(tree)).filter((n) => n.startsWith('.')), []);
  } finally {
    await removeWorkTree(tree);
  }
  assert.deepEqual(await readdir(work), []);
  await assertRejectsWith(removeWorkTree(scratch), 'internal');
});

// ---- a full layered commit -----------------------------------------------------------------------------------

describe('a layered commit of the kit\'s packages', () => {
  let result: LayeredBuildResult;
  let tree: string;
  let work: string;
  const tasks: string[] = [];
  const percents: number[] = [];

  before(async () => {
    useRepo(repo);
    const baz = kitDeb('kit-libbaz1');
    const bar = kitDeb('kit-libbar1');
    const app = kitDeb('kit-app');
    const predep = kitDeb('kit-predep');
    const conffile = kitDeb('kit-conffile');
    const daemon = kitDeb('kit-daemon');
    const alternatives = kitDeb('kit-alternatives');
    const opt = kitDeb('kit-opt');
    const enabling = await testDeb(enablingPackage());
    const leftovers = await testDeb(leftoversPackage());
    const rest = [bar, app, conffile, daemon, alternatives, opt, enabling, leftovers];
    work = await workDir('full');
    result = await buildLayeredCommit({
      repo, baseCommit: kit.commits.v1, workDir: work,
      plan: plan(
        [planned(baz, false), planned(bar, false), planned(app, true), planned(predep, true), planned(conffile, true),
          planned(daemon, true), planned(alternatives, true), planned(opt, true), planned(enabling, true),
          planned(leftovers, true)],
        // apt's order: kit-predep Pre-Depends on kit-libbaz1, so that is configured before kit-predep is unpacked.
        [{ kind: 'unpack', packages: [key(baz)] }, { kind: 'configure', packages: [key(baz)] },
          { kind: 'unpack', packages: [key(predep)] }, { kind: 'unpack', packages: rest.map(key) },
          { kind: 'configure', packages: [key(predep), ...rest.map(key)] }],
      ),
      progress: { ...silent, taskBegin: (t) => tasks.push(t), percent: (_t, p) => percents.push(p) },
    });
    tree = await checkout(result.checksum);
  });

  test('the commit follows the base image contract and the work tree is gone', async (t) => {
    t.diagnostic(`phases (ms): ${JSON.stringify(result.timings)}`);
    t.diagnostic(`dpkg runs: ${result.dpkgRuns.length}`);
    assert.equal(formatViolations(await checkBaseImageContract(tree)), '');
    assert.deepEqual(await readdir(work), []);
    assert.equal(await pathExists(join(tree, 'etc'), { follow: false }), false);
    assert.equal(await pathExists(join(tree, 'usr/sbin/policy-rc.d'), { follow: false }), false);
    assert.deepEqual(await readdir(join(tree, 'var')), []);
    assert.deepEqual(result.warnings.length, 2, result.warnings.join('\n'));
  });

  test('what postinsts leave behind is cleaned up or moved where the contract wants it', async () => {
    assert.equal(await readFile(join(tree, 'usr/etc/machine-id'), 'utf8'), '');
    assert.equal(await pathExists(join(tree, 'usr/etc/ssh/ssh_host_ed25519_key'), { follow: false }), false);
    assert.deepEqual(result.finalize.removedSecrets, ['/usr/etc/ssh/ssh_host_ed25519_key']);
    assert.deepEqual(await readdir(join(tree, 'boot')), []);
    assert.deepEqual(result.finalize.removedFromBoot, ['initrd.img-kit-test']);
    assert.ok(result.warnings.some((w) => w.includes('/boot')), result.warnings.join('\n'));
    // ucf's state did not exist in the base: it now travels in /usr, linked from /var like the base's own state.
    assert.deepEqual(result.finalize.newPackageState, ['/var/lib/ucf']);
    assert.equal(await readFile(join(tree, 'usr/share/apt-ostree/state/var/lib/ucf/hashfile'), 'utf8'),
      '0123 /etc/kit-test-leftovers.conf\n');
    assert.match(await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree.conf'), 'utf8'),
      /^L \/var\/lib\/ucf - - - - \/usr\/share\/apt-ostree\/state\/var\/lib\/ucf$/m);
    const debconf = await readdir(join(tree, 'usr/share/apt-ostree/state/var/cache/debconf'));
    assert.ok(debconf.includes('config.dat'));
    assert.equal(debconf.includes('passwords.dat'), false);
    assert.equal(debconf.some((n) => n.endsWith('-old')), false);
  });

  test('progress names each dpkg batch and reaches 100 %', () => {
    assert.ok(tasks.includes('Unpacking kit-libbaz1'), tasks.join(' | '));
    assert.ok(tasks.some((t) => t.startsWith('Configuring kit-predep, kit-libbar1')), tasks.join(' | '));
    assert.equal(percents.at(-1), 100);
    assert.ok(percents.some((p) => p > 0 && p < 100));
  });

  test('the packages are installed, dpkg is content, the base is intact', async () => {
    const installed = await dpkgQuery(tree);
    for (const name of ['kit-libbaz1', 'kit-libbar1', 'kit-app', 'kit-predep', 'kit-conffile', 'kit-daemon',
      'kit-alternatives', 'kit-opt', 'kit-test-enable', 'kit-test-leftovers']) {
      assert.equal(installed.get(name)?.status, 'ii', name);
    }
    for (const [name, version] of Object.entries(kit.basePackages.v1)) assert.equal(installed.get(name)?.version, version, name);
    assert.ok(await findFile(join(tree, 'usr/lib'), 'libbaz.so.1'));
    assert.ok(await findFile(join(tree, 'usr/lib'), 'libbar.so.1'));
    assert.equal(await readFile(join(tree, 'usr/bin/kit-app'), 'utf8'), '#!/bin/sh\necho kit-app 1.0\n');
    const audit = await runInTree(tree, ['dpkg', '--admindir=/usr/share/dpkg/database', '--audit']);
    assert.equal(audit.code, 0);
    assert.equal(audit.stdout.trim(), '');
    const app = await runInTree(tree, ['/usr/bin/kit-app']);
    assert.equal(app.stdout, 'kit-app 1.0\n');
  });

  test('dependencies are marked automatic in extended_states, the base\'s marks are kept', async () => {
    const text = await readFile(join(tree, 'usr/share/apt-ostree/extended_states'), 'utf8');
    const auto = [...text.matchAll(/^Package: (\S+)\nArchitecture: (\S+)\nAuto-Installed: 1$/gm)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(auto.sort(), [`kit-libbar1:${kit.arch}`, `kit-libbaz1:${kit.arch}`, `kit-libc:${kit.arch}`]);
  });

  test('the conffile is in /usr/etc and known to dpkg', async () => {
    assert.equal(await readFile(join(tree, 'usr/etc/kit-conffile.conf'), 'utf8'), '# kit-conffile\nsetting=default\n');
    const { stdout } = await run(['dpkg-query', `--admindir=${join(tree, 'usr/share/dpkg/database')}`, '-W', '-f',
      '${Conffiles}', 'kit-conffile']);
    assert.match(stdout, /\/etc\/kit-conffile\.conf [0-9a-f]{32}/);
  });

  test('the daemon\'s user is in /usr/etc and in the sysusers fragment, which systemd-sysusers accepts', async () => {
    const user = parsePasswd(await readFile(join(tree, 'usr/etc/passwd'), 'utf8')).find((u) => u.name === 'kitd');
    assert.ok(user);
    assert.deepEqual(result.accounts.users.map((u) => u.name), ['kitd']);
    assert.deepEqual(result.accounts.groups.map((g) => g.name), ['kitd']);
    const fragment = await readFile(join(tree, SYSUSERS_FRAGMENT), 'utf8');
    assert.match(fragment, new RegExp(`^u kitd ${user.uid}:${user.gid} "kit daemon" /var/lib/kit-daemon /usr/sbin/nologin$`, 'm'));
    assert.match(fragment, new RegExp(`^g kitd ${user.gid}$`, 'm'));
    // The state directory the postinst chowned keeps the numeric owner through tmpfiles.d.
    const autovar = parseTmpfilesDeclarations(await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 'utf8'), 'autovar');
    assert.ok(autovar.some((d) => d.path === '/var/lib/kit-daemon' && d.type === 'd'));
    assert.match(await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 'utf8'),
      new RegExp(`^d /var/lib/kit-daemon 0750 ${user.uid} ${user.gid} -$`, 'm'));

    // A machine whose /etc lacks the user (the base's files): systemd-sysusers creates it with the same ids.
    const machine = await mkdtemp(join(scratch, 'sysusers-'));
    await mkdir(join(machine, 'etc'), { recursive: true });
    for (const f of ['passwd', 'group', 'shadow', 'gshadow']) {
      const base = (await readFile(join(tree, 'usr/etc', f), 'utf8')).split('\n').filter((l) => !l.startsWith('kitd:')).join('\n');
      await writeFile(join(machine, 'etc', f), base);
    }
    await mkdir(join(machine, 'usr/lib/sysusers.d'), { recursive: true });
    await writeFile(join(machine, SYSUSERS_FRAGMENT), fragment);
    await run(['systemd-sysusers', `--root=${machine}`]);
    const created = parsePasswd(await readFile(join(machine, 'etc/passwd'), 'utf8')).find((u) => u.name === 'kitd');
    assert.deepEqual(created && [created.uid, created.gid, created.home, created.shell],
      [user.uid, user.gid, '/var/lib/kit-daemon', '/usr/sbin/nologin']);
  });

  test('unit enablement is the postinst\'s: its wants link lands in /usr/etc, nothing was started', async () => {
    const wants = 'usr/etc/systemd/system/multi-user.target.wants';
    assert.equal(await readlink(join(tree, wants, 'kit-test-enable.service')), '/usr/lib/systemd/system/kit-test-enable.service');
    // deb-systemd-helper's record travels with the dpkg database, in the package state in /usr.
    const state = 'usr/share/apt-ostree/state/var/lib/systemd/deb-systemd-helper-enabled';
    assert.ok(await pathExists(join(tree, state, 'multi-user.target.wants/kit-test-enable.service'), { follow: false }));
    assert.equal(await readFile(join(tree, 'usr/share/kit-test-enable/policy-rc.d-answer'), 'utf8'), '101\n');
    assert.equal(await readFile(join(tree, 'usr/share/kit-test-enable/systemd-running'), 'utf8'), 'no\n');
    // kit-daemon's postinst does not enable its unit, and apt-ostree does not apply presets on its own.
    assert.ok(await pathExists(join(tree, 'usr/lib/systemd/system/kit-daemon.service'), { follow: false }));
    assert.equal(await pathExists(join(tree, wants, 'kit-daemon.service'), { follow: false }), false);
  });

  test('the alternative resolves inside the tree', async () => {
    assert.equal(await readlink(join(tree, 'usr/bin/kit-editor')), '/etc/alternatives/kit-editor');
    const target = await readlink(join(tree, 'usr/etc/alternatives/kit-editor'));
    assert.equal(target, '/usr/lib/kit-alternatives/kit-editor-real');
    assert.ok((await stat(join(tree, target))).isFile());
    assert.match(await readFile(join(tree, 'usr/share/dpkg/database/alternatives/kit-editor'), 'utf8'), /kit-editor-real\n50\n/);
    const ran = await runInTree(tree, ['kit-editor']);
    assert.equal(ran.stdout, 'kit-editor 1.0\n');
  });

  test('/opt content lives in /usr/lib/opt and a booted system finds it at /opt', async () => {
    assert.ok((await stat(join(tree, 'usr/lib/opt/kit-opt/bin/kit-opt-tool'))).isFile());
    assert.equal(await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree-opt.conf'), 'utf8'),
      '# Written by apt-ostree: /opt content of layered packages lives read-only in /usr/lib/opt.\n'
      + 'L /var/opt/kit-opt - - - - /usr/lib/opt/kit-opt\n');
    assert.doesNotMatch(await readFile(join(tree, 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf'), 'utf8'), /kit-opt/);
    assert.equal(await pathExists(join(tree, 'usr/share/factory/var/opt'), { follow: false }), false);
    // runInTree recreates /var from tmpfiles.d like a boot does: /opt → var/opt → /var/opt/kit-opt → /usr/lib/opt.
    const ran = await runInTree(tree, ['/opt/kit-opt/bin/kit-opt-tool']);
    assert.equal(ran.stdout, 'kit-opt-tool 1.0\n');
    assert.equal(await readlink(join(tree, 'var/opt/kit-opt')), '/usr/lib/opt/kit-opt');
  });

  test('the commit says what it is made of', async () => {
    const meta = await readLayeredMetadata(repo, result.checksum);
    assert.ok(meta);
    assert.equal(meta.base, kit.commits.v1);
    assert.equal(meta.version, kit.versions.v1);
    assert.deepEqual(meta.layered.map((p) => `${p.name}=${p.version}`).sort(), [
      'kit-alternatives=1.0-1', 'kit-app=1.0-1', 'kit-conffile=1.0-1', 'kit-daemon=1.0-1', 'kit-libbar1=1.0-1',
      'kit-libbaz1=1.0-1', 'kit-opt=1.0-1', 'kit-predep=1.0-1', 'kit-test-enable=1.0-1', 'kit-test-leftovers=1.0-1']);
    assert.deepEqual(meta.requested.sort(), ['kit-alternatives', 'kit-app', 'kit-conffile', 'kit-daemon', 'kit-opt',
      'kit-predep', 'kit-test-enable', 'kit-test-leftovers']);
    assert.deepEqual([meta.removed, meta.replaced], [[], []]);
    assert.equal(await readLayeredMetadata(repo, kit.commits.v1), undefined);
    const parent = (await run(['ostree', 'show', `--repo=${repo}`, result.checksum])).stdout;
    assert.match(parent, new RegExp(`^Parent: +${kit.commits.v1}$`, 'm'));
    const bootable = await run(['ostree', 'show', `--repo=${repo}`, '--print-metadata-key=ostree.linux', result.checksum]);
    assert.equal(bootable.stdout.trim(), `'${kit.kernelVersion}'`);
    assert.equal((await run(['ostree', 'refs', `--repo=${repo}`])).stdout.includes(result.checksum), false);
  });
});

// ---- removals and replacements -------------------------------------------------------------------------------

test('override remove and replace: a base package purged, another replaced by a newer version', async () => {
  useRepo(repo);
  const foo11 = kitDeb('kit-libfoo1', '1.1-1');
  const fillerB = kitDeb('kit-filler-b');
  const r = await buildLayeredCommit({
    repo, baseCommit: kit.commits.v1, workDir: await workDir('overrides'),
    plan: plan([planned(foo11, true, '1.0-1')],
      [{ kind: 'remove', packages: [key(fillerB)], purge: true }, { kind: 'unpack', packages: [key(foo11)] },
        { kind: 'configure', packages: [key(foo11)] }],
      [{ name: fillerB.name, arch: fillerB.arch, version: fillerB.version }]),
    progress: silent,
  });
  const tree = await checkout(r.checksum);
  const installed = await dpkgQuery(tree);
  assert.equal(installed.has('kit-filler-b'), false);
  assert.equal(installed.get('kit-libfoo1')?.version, '1.1-1');
  assert.equal(await pathExists(join(tree, 'usr/bin/kit-filler-b'), { follow: false }), false);
  assert.equal(await readFile(join(tree, 'usr/share/doc/kit-libfoo1/version'), 'utf8'), '1.1-1\n');
  const meta = await readLayeredMetadata(repo, r.checksum);
  assert.ok(meta);
  assert.deepEqual(meta.removed, [{ name: 'kit-filler-b', version: fillerB.version }]);
  assert.deepEqual(meta.replaced, [{ name: 'kit-libfoo1', version: '1.1-1' }]);
  assert.deepEqual(meta.layered, []);
  assert.equal(formatViolations(await checkBaseImageContract(tree)), '');
});

// ---- failures ------------------------------------------------------------------------------------------------

test('a failing postinst: dpkg-failed naming the package and the script, the work tree removed', async () => {
  useRepo(repo);
  const failing = kitDeb('kit-failing');
  const work = await workDir('failing');
  const err = await assertRejectsWith(buildLayeredCommit({
    repo, baseCommit: kit.commits.v1, workDir: work, progress: silent,
    plan: plan([planned(failing, true)], [{ kind: 'unpack', packages: [key(failing)] }, { kind: 'configure', packages: [key(failing)] }]),
  }), 'dpkg-failed');
  assert.match(err.message, /postinst script of kit-failing failed \(exit status 1\) in dpkg --configure/);
  assert.match(err.message, /kit-failing: postinst fails on purpose/);
  assert.doesNotMatch(err.message, /Errors were encountered|too many errors/);
  assert.doesNotMatch(err.message, /\n/);
  assert.ok(err.hint);
  assert.deepEqual(await readdir(work), []);
});

test('cancelling while a maintainer script runs stops it and removes the work tree', async () => {
  useRepo(repo);
  const slow = await testDeb({
    name: 'kit-test-slow', version: '1.0-1', description: 'a postinst that takes long',
    files: [{ path: '/usr/share/kit-test-slow/README', content: 'slow\n' }],
    scripts: { postinst: script('sleep 120') },
  });
  const work = await workDir('cancel');
  const controller = new AbortController();
  const started = performance.now();
  const building = buildLayeredCommit({
    repo, baseCommit: kit.commits.v1, workDir: work, signal: controller.signal,
    plan: plan([planned(slow, true)], [{ kind: 'unpack', packages: [key(slow)] }, { kind: 'configure', packages: [key(slow)] }]),
    progress: { ...silent, taskBegin: (title) => { if (title.startsWith('Configuring')) setTimeout(() => { controller.abort(); }, 500); } },
  });
  await assertRejectsWith(building, 'cancelled');
  assert.ok(performance.now() - started < 20_000);
  assert.deepEqual(await readdir(work), []);
  const { stdout } = await run(['ps', '-eo', 'args']);
  assert.equal(stdout.split('\n').some((l) => l.includes('sleep 120')), false, 'the postinst was left running');
});

test('a script writing into a base file in place is caught before the commit', async () => {
  // This one damages its repository on purpose (that is what the check is for), so it gets one of its own.
  const victim = await freshRepo('victim');
  const writer = await testDeb({
    name: 'kit-test-inplace', version: '1.0-1', description: 'appends to a file of the base',
    files: [{ path: '/usr/share/kit-test-inplace/README', content: 'x\n' }],
    scripts: { postinst: script('echo tampered >> /usr/share/doc/kit-libfoo1/version') },
  });
  const work = await workDir('inplace');
  const err = await assertRejectsWith(buildLayeredCommit({
    repo: victim, baseCommit: kit.commits.v1, workDir: work, progress: silent,
    plan: plan([planned(writer, true)], [{ kind: 'unpack', packages: [key(writer)] }, { kind: 'configure', packages: [key(writer)] }]),
  }), 'repo-object-modified');
  assert.match(err.message, /\/usr\/share\/doc\/kit-libfoo1\/version/);
  assert.deepEqual(await readdir(work), []);
  // ostree agrees: the object behind that file is corrupt now.
  const fsck = await runUnchecked(['ostree', 'fsck', `--repo=${victim}`]);
  assert.notEqual(fsck.code, 0);
  await rm(victim, { recursive: true, force: true });
});

test('a work directory on another filesystem is refused before anything is checked out', async () => {
  useRepo(repo);
  const err = await assertRejectsWith(buildLayeredCommit({
    repo, baseCommit: kit.commits.v1, workDir: '/dev/shm', progress: silent, plan: plan([], []),
  }), 'invalid-argument');
  assert.match(err.message, /not on the filesystem/);
});

// ---- deployment: users an admin's /etc/passwd would hide ------------------------------------------------------

describe('deploying a layered commit onto a system with local accounts', () => {
  /** What `useradd --system localsvc` on the deployed kit system gives: the highest free system ids. */
  const LOCAL = { passwd: 'localsvc:x:999:998::/var/lib/localsvc:/usr/sbin/nologin', group: 'localsvc:x:998:',
    shadow: 'localsvc:!:19700::::::', gshadow: 'localsvc:!::' };

  async function systemWithLocalAccount(): Promise<{ sysroot: TestSysroot; etc: string }> {
    const sysroot = await newSysroot(kit, { parentDir: scratch });
    sysroots.push(sysroot.path);
    useRepo(sysroot.repo);
    const etc = join(await deploymentOf(sysroot, sysroot.commit), 'etc');
    for (const [file, line] of Object.entries(LOCAL)) await appendByRename(join(etc, file), line);
    return { sysroot, etc };
  }

  async function deploymentOf(sysroot: TestSysroot, commit: string): Promise<string> {
    const dir = join(sysroot.path, 'ostree/deploy', sysroot.osname, 'deploy');
    const names = (await readdir(dir)).filter((n) => n.startsWith(`${commit}.`) && !n.endsWith('.origin')).sort();
    const last = names.at(-1);
    if (last === undefined) throw new Error(`no deployment of ${commit}`);
    return join(dir, last);
  }

  /** An admin's edit, the way vipw and useradd do it: a new file renamed over, owner and mode kept. */
  async function appendByRename(path: string, line: string): Promise<void> {
    const st = await stat(path);
    const tmp = `${path}.edit`;
    await writeFile(tmp, `${await readFile(path, 'utf8')}${line}\n`);
    await chown(tmp, st.uid, st.gid);
    await chmod(tmp, st.mode & 0o7777);
    await rename(tmp, path);
  }

  async function layerDaemon(sysroot: TestSysroot, localEtc?: string): Promise<string> {
    const daemon = kitDeb('kit-daemon');
    const conffile = kitDeb('kit-conffile');
    const r = await buildLayeredCommit({
      repo: sysroot.repo, baseCommit: sysroot.commit, localEtc, progress: silent,
      workDir: join(sysroot.path, 'ostree/deploy', sysroot.osname, 'var/tmp'),
      plan: plan([planned(daemon, true), planned(conffile, true)],
        [{ kind: 'unpack', packages: [key(daemon), key(conffile)] }, { kind: 'configure', packages: [key(daemon), key(conffile)] }]),
    });
    await run(['ostree', 'admin', 'deploy', `--sysroot=${sysroot.path}`, `--os=${sysroot.osname}`, r.checksum]);
    return deploymentOf(sysroot, r.checksum);
  }

  test('the users the scripts created are merged into the new /etc, with ids no local account uses', async () => {
    const { sysroot, etc } = await systemWithLocalAccount();
    const shadowBefore = await stat(join(etc, 'shadow'));
    const deployment = await layerDaemon(sysroot, etc);
    const newEtc = join(deployment, 'etc');
    // ostree's merge kept the locally modified passwd: without the merge the user would not exist.
    assert.equal(parsePasswd(await readFile(join(newEtc, 'passwd'), 'utf8')).some((u) => u.name === 'kitd'), false);
    assert.ok(await pathExists(join(newEtc, 'kit-conffile.conf'), { follow: false }), 'new conffiles reach /etc through the 3-way merge');

    const report = await mergeUsersIntoDeployment(deployment);
    assert.deepEqual([report.addedUsers, report.addedGroups, report.warnings], [['kitd'], ['kitd'], []]);
    const users = parsePasswd(await readFile(join(newEtc, 'passwd'), 'utf8'));
    const kitd = users.find((u) => u.name === 'kitd');
    const localsvc = users.find((u) => u.name === 'localsvc');
    assert.ok(kitd && localsvc);
    assert.notEqual(kitd.uid, localsvc.uid);
    const groups = (await readFile(join(newEtc, 'group'), 'utf8')).split('\n');
    assert.ok(groups.some((l) => l.startsWith(`kitd:x:${kitd.gid}:`)));
    assert.equal(groups.filter((l) => l.split(':')[2] === String(kitd.gid)).length, 1);
    assert.match(await readFile(join(newEtc, 'shadow'), 'utf8'), /^kitd:/m);
    assert.match(await readFile(join(newEtc, 'gshadow'), 'utf8'), /^kitd:/m);
    const shadowAfter = await stat(join(newEtc, 'shadow'));
    assert.deepEqual([shadowAfter.mode, shadowAfter.uid, shadowAfter.gid], [shadowBefore.mode, shadowBefore.uid, shadowBefore.gid]);
    // The local account never reached the commit.
    assert.doesNotMatch(await readFile(join(deployment, 'usr/etc/passwd'), 'utf8'), /localsvc/);
    // Merging again changes nothing.
    const again = await mergeUsersIntoDeployment(deployment);
    assert.deepEqual([again.addedUsers, again.addedGroups], [[], []]);
    assert.deepEqual(again.kept.sort(), ['group kitd', 'user kitd']);
  });

  test('without the local accounts reserved, a clashing id is an error and /etc stays as it was', async () => {
    const { sysroot } = await systemWithLocalAccount();
    const deployment = await layerDaemon(sysroot);
    const passwd = await readFile(join(deployment, 'etc/passwd'), 'utf8');
    const err = await assertRejectsWith(mergeUsersIntoDeployment(deployment), 'account-conflict');
    assert.match(err.message, /uid 999 of user kitd belongs to user localsvc/);
    assert.equal(await readFile(join(deployment, 'etc/passwd'), 'utf8'), passwd);
  });
});
