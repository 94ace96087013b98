/**
 * `apt-ostree initramfs` on the real-Debian base (tests/debian/base.ts), whose image has dracut and ostree-boot: the
 * initramfs is rebuilt on the client with the image's own dracut and an extra argument, replaces the base's in a new
 * deployment (the one ostree copies to /boot), is re-done with layered packages and on a deploy of the base, and
 * --disable goes back to the base's image. The repository stays intact throughout (ostree fsck).
 * Needs root and the network (the Debian archive, for the base and for the layered package).
 *
 *   node build.mjs && node --import tsx --test tests/debian/initramfs.test.ts
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { run, runUnchecked } from '../../src/lib/exec.js';
import { loadSysroot } from '../../src/core/sysroot/sysroot.js';
import { hostDebianArchive } from '../../src/core/compose/archive-sources.js';
import { cli, cliJson, cliOk, fsckClean, snapshot, type StatusJson } from '../system/support.js';
import { getDebianBase, type DebianBase } from './base.js';
import { newDebianSysroot, removeDebianSysroot, useHostArchive, type DebianSysroot } from './sysroot.js';

const skip = process.getuid?.() !== 0 ? 'needs root (mmdebstrap --mode=root, ostree admin, bwrap)' : false;

/** A file dracut puts into the initramfs only because of the extra arguments: lsinitrd shows that they took effect. */
const MARKER = 'etc/apt-ostree-initramfs-test';
const ARGS = ['--include', '/usr/lib/os-release', `/${MARKER}`];
const PREPARE_ROOT = 'usr/lib/ostree/ostree-prepare-root';

type InitramfsStatus = StatusJson['deployments'][number] & { 'regenerate-initramfs': boolean; 'initramfs-args': string[] };

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

/** lsinitrd of a deployment's initramfs, run with the deployment as / (the host has no dracut). */
async function lsinitrd(deployment: string, kver: string): Promise<string> {
  const r = await runUnchecked(['bwrap', '--ro-bind', deployment, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--tmpfs', '/run', '--tmpfs', '/var', '--unshare-pid', '--unshare-net', '--die-with-parent', '--clearenv',
    '--setenv', 'PATH', '/usr/sbin:/usr/bin', 'lsinitrd', `/usr/lib/modules/${kver}/initramfs.img`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('initramfs regeneration on the client (trixie)', { skip }, () => {
  let base: DebianBase;
  let sys: DebianSysroot | undefined;
  let s = '';
  let baseImage = '';
  const image = (deployment: string): string => join(deployment, 'usr/lib/modules', base.kernelVersion, 'initramfs.img');
  const status = (): Promise<{ deployments: InitramfsStatus[] }> => cliJson(s, ['status']);
  const current = async (): Promise<string> => (await loadSysroot(s)).deployments[0]!.path;

  /** The initrd the default boot entry names, in the sysroot's /boot: what the machine would boot. */
  async function bootedImage(): Promise<string> {
    const entries = join(s, 'boot/loader/entries');
    const texts = await Promise.all((await readdir(entries)).map((n) => readFile(join(entries, n), 'utf8')));
    const newest = texts.sort((a, b) => Number(/^version (\d+)/m.exec(b)?.[1]) - Number(/^version (\d+)/m.exec(a)?.[1]))[0] ?? '';
    return join(s, 'boot', /^initrd (\S+)$/m.exec(newest)?.[1] ?? '');
  }

  async function assertRegenerated(): Promise<void> {
    const dep = await current();
    assert.notEqual(await sha256(image(dep)), baseImage, 'the deployment has a new initramfs');
    assert.equal(await sha256(await bootedImage()), await sha256(image(dep)), 'the boot entry boots it');
    const listing = await lsinitrd(dep, base.kernelVersion);
    assert.ok(listing.includes(PREPARE_ROOT), 'ostree-prepare-root is in it');
    assert.ok(listing.includes(MARKER), `the extra dracut arguments took effect:\n${listing.slice(0, 2000)}`);
    const st = (await status()).deployments[0]!;
    assert.equal(st['regenerate-initramfs'], true);
    assert.deepEqual(st['initramfs-args'], ARGS);
    assert.equal(st['base-checksum'], base.commit);
    const args = await run(['ostree', 'show', `--repo=${join(s, 'ostree/repo')}`, '--print-metadata-key=apt-ostree.initramfs-args',
      st.checksum]);
    assert.equal(args.stdout.trim(), `[${ARGS.map((a) => `'${a}'`).join(', ')}]`, 'the commit says how its initramfs was made');
  }

  before(async () => {
    base = await getDebianBase();
    sys = await newDebianSysroot(base, { prefix: 'apt-ostree-debian-initramfs-' });
    s = sys.path;
    await useHostArchive(sys.deployment, await hostDebianArchive());
    baseImage = await sha256(image(sys.deployment));
  });
  afterEach(async () => {
    if (s !== '') await fsckClean(s);
  });
  after(async () => {
    if (sys) await removeDebianSysroot(sys.work);
  });

  test('--enable --arg: dracut rebuilds it in a new deployment; the origin and status say so', async () => {
    assert.match((await cliOk(s, ['initramfs'])).stdout, /^Initramfs regeneration: disabled$/m);
    const before = await snapshot(s);
    const bad = await cli(s, ['initramfs', '--arg=--add-drivers']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /^error\[usage\]: --arg only goes with --enable/m);
    assert.equal(await snapshot(s), before);

    await cliOk(s, ['initramfs', '--enable', ...ARGS.map((a) => `--arg=${a}`)]);
    await assertRegenerated();
    const origin = (await loadSysroot(s)).deployments[0]!.origin;
    assert.ok(origin);
    assert.equal(origin.get('rpmostree', 'regenerate-initramfs'), 'true');
    assert.deepEqual(origin.getList('rpmostree', 'initramfs-args'), ARGS);
    assert.equal(origin.get('origin', 'baserefspec'), `debian:${base.ref}`);
    const shown = await cliOk(s, ['initramfs']);
    assert.match(shown.stdout, /^Initramfs regeneration: enabled$/m);
    assert.deepEqual(JSON.parse((await cliOk(s, ['initramfs', '--json'])).stdout),
      { 'regenerate-initramfs': true, 'initramfs-args': ARGS });
    assert.match((await cliOk(s, ['status'])).stdout, /Initramfs: regenerate --include \/usr\/lib\/os-release/);
  });

  test('re-applied after layered packages and on a deploy of the base', async () => {
    await cliOk(s, ['install', 'tree']);
    await assertRegenerated();
    assert.deepEqual((await status()).deployments[0]!.packages, ['tree']);
    await cliOk(s, ['deploy', base.commit]);
    await assertRegenerated();
    assert.deepEqual((await status()).deployments[0]!.packages, ['tree'], 'the packages came along');
  });

  test('--disable goes back to the base image\'s initramfs; a second --disable has nothing to do', async () => {
    await cliOk(s, ['initramfs', '--disable']);
    const dep = await current();
    assert.equal(await sha256(image(dep)), baseImage);
    assert.equal(await sha256(await bootedImage()), baseImage);
    const st = (await status()).deployments[0]!;
    assert.equal(st['regenerate-initramfs'], false);
    assert.deepEqual(st['initramfs-args'], []);
    assert.deepEqual(st.packages, ['tree'], 'only the initramfs request went');
    assert.equal((await loadSysroot(s)).deployments[0]!.origin?.groups().includes('rpmostree'), false);
    const before = await snapshot(s);
    const again = await cli(s, ['initramfs', '--disable']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error\[nothing-to-do\]: initramfs regeneration is not enabled/m);
    assert.equal(await snapshot(s), before);
  });
});
