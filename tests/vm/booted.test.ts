/**
 * apt-ostree on a booted machine: our own composed image (tests/vm/image.yaml, with apt-ostree from our .deb) in
 * qemu under TCG, with the host as the boot loader, through the bus-activated apt-ostreed and polkit. The guest's
 * script (tests/vm/guest/run.sh) runs one phase per boot and reports each check on the second serial port; the
 * guest reaches the Debian archive through qemu's user-mode network, and the host (10.0.2.2) for the v2 image.
 *
 * Needs root (compose, mkfs.ext4 -d of a root-owned tree), qemu-system-x86, debugfs and the network. The image is
 * cached (tests/vm/lib/image.ts); disks and boots are made fresh every run. On failure the serial logs of every boot
 * stay in /var/tmp/apt-ostree-vm-artifacts/<time>/ (APT_OSTREE_VM_ARTIFACTS); APT_OSTREE_VM_KEEP=1 keeps them and
 * the disks in any case. APT_OSTREE_VM_IDLE_SECONDS / APT_OSTREE_VM_BOOT_SECONDS change the per-boot limits.
 *
 *   node build.mjs && node --import tsx --test tests/vm/booted.test.ts
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runUnchecked } from '../../src/lib/exec.js';
import { serveDirectory, type ServedDirectory } from '../kit/http.js';
import { copyOutOfImage, makeSystemDisk, makeTestDisk } from './lib/disk.js';
import { PHASES, STEPS, stepOf, writeGuestFiles } from './lib/guest-script.js';
import { getVmImage, type VmImage } from './lib/image.js';
import { bootCompleted, Machine } from './lib/machine.js';
import { partPassed } from './lib/protocol.js';
import { failureDetail, planView, summaryTable } from './lib/report.js';

async function missingTool(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (compose with mmdebstrap, mkfs.ext4 -d of a root-owned tree)';
  for (const tool of ['qemu-system-x86_64', 'debugfs', 'mkfs.ext4']) {
    const r = await runUnchecked(['sh', '-c', 'command -v "$1"', 'sh', tool]);
    if (r.code !== 0) return `${tool} is not installed (scripts/setup installs it)`;
  }
  return false;
}

const started = Date.now();
const log = (line: string): void => {
  process.stderr.write(`vm [${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${line}\n`);
};
const keep = process.env.APT_OSTREE_VM_KEEP === '1';
const seconds = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

describe('apt-ostree on a booted machine (qemu, TCG)', { skip: await missingTool() }, () => {
  let image: VmImage;
  let server: ServedDirectory | undefined;
  let work = '';
  let artifacts = '';
  let testDisk = '';
  let machine: Machine | undefined;
  let failed = false;

  before(async () => {
    image = await getVmImage(log);
    log(`image ${image.ref}: v1 ${image.v1.commit.slice(0, 12)} (${image.v1.version}), v2 ${image.v2.commit.slice(0, 12)}`
      + ` (${image.v2.version}); apt-ostree from ${image.deb ?? 'dist/ and data/ (no .deb)'}`);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    artifacts = join(process.env.APT_OSTREE_VM_ARTIFACTS ?? '/var/tmp/apt-ostree-vm-artifacts', stamp);
    await mkdir(artifacts, { recursive: true });
    work = await mkdtemp('/var/tmp/apt-ostree-vm-');
    // The guest sees the host's loopback as 10.0.2.2.
    server = await serveDirectory(image.repo);
    const remoteUrl = server.url.replace('127.0.0.1', '10.0.2.2');
    const t0 = Date.now();
    const systemDisk = await makeSystemDisk(image, work, { remoteUrl, log });
    const guestDir = join(work, 'guest');
    await writeGuestFiles(guestDir, image);
    testDisk = await makeTestDisk(guestDir, work);
    log(`disks ready in ${((Date.now() - t0) / 1000).toFixed(0)}s; remote ${remoteUrl}; artifacts ${artifacts}`);
    machine = new Machine({
      systemDisk, testDisk, work, artifacts, log,
      totalMs: seconds('APT_OSTREE_VM_BOOT_SECONDS', 45 * 60) * 1000,
      idleMs: seconds('APT_OSTREE_VM_IDLE_SECONDS', 300) * 1000,
    });
  });

  after(async () => {
    await server?.close();
    const boots = machine?.boots ?? [];
    if (boots.length > 0) {
      const about = `apt-ostree from ${image.deb ?? 'dist/ and data/ (no .deb)'}`;
      process.stderr.write(`\n${summaryTable(boots, Date.now() - started, about)}\n\n`);
    }
    if (testDisk !== '' && (failed || keep)) await copyOutOfImage(testDisk, '/state', join(artifacts, 'guest-state'));
    if (!failed && !keep && artifacts !== '') await rm(artifacts, { recursive: true, force: true });
    if (failed || keep) log(`artifacts kept in ${artifacts}`);
    if (!keep && work !== '') await rm(work, { recursive: true, force: true });
  });

  test('the machine boots through every phase', async () => {
    assert.ok(machine);
    for (const phase of PHASES) {
      const boot = await machine.boot(phase);
      if (!bootCompleted(boot)) {
        failed = true;
        // Later phases build on this one: booting on would only repeat the failure, slowly.
        assert.fail(await failureDetail(planView(machine.boots).filter((p) => p.phase === phase.name), machine.boots, artifacts));
      }
    }
  });

  for (const { step, title } of STEPS) {
    test(`step ${step}: ${title}`, async () => {
      const parts = planView(machine?.boots ?? []).filter((p) => stepOf(p.part) === step);
      if (parts.every((p) => partPassed(p.result))) return;
      failed = true;
      assert.fail(await failureDetail(parts, machine?.boots ?? [], artifacts));
    });
  }
});
