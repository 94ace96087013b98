/**
 * The test machine across its boots: before each one the host reads the default boot entry from the system disk
 * (bootloader.ts), boots it with the phase on the kernel command line, and records what the guest reported.
 */
import { join } from 'node:path';
import { defaultBootEntry, extractBootFiles, type BootEntry } from './bootloader.js';
import type { Phase } from './guest-script.js';
import { feedLine, newBootLog, type BootLog } from './protocol.js';
import { bootOnce, type BootRun } from './qemu.js';

export interface BootRecord {
  index: number;
  phase: string;
  entry: BootEntry;
  run: BootRun;
  log: BootLog;
  /** Seconds from starting qemu to the guest script's start (the boot itself). */
  bootSeconds: number | undefined;
  consoleLog: string;
  testLog: string;
}

export interface MachineOptions {
  systemDisk: string;
  testDisk: string;
  /** Kernel and initramfs go here. */
  work: string;
  /** Serial logs go here. */
  artifacts: string;
  log: (line: string) => void;
  /** Limits of one boot (qemu.ts). */
  totalMs: number;
  idleMs: number;
}

/**
 * Extra kernel arguments of every boot, beside the entry's own: the autotest hook and the phase; `panic=1` and
 * dracut's `rd.emergency=reboot` with `-no-reboot` turn a kernel panic or a failed initramfs into an exit of qemu
 * instead of a hang; `mitigations=off` spares the emulated CPU work that protects nothing here.
 */
export function bootArguments(entry: BootEntry, phase: string): string {
  return `${entry.options} apt-ostree.autotest apt-ostree.vmtest=${phase} panic=1 rd.shell=0 rd.emergency=reboot mitigations=off`;
}

export class Machine {
  readonly boots: BootRecord[] = [];

  constructor(private readonly o: MachineOptions) {}

  async boot(phase: Phase): Promise<BootRecord> {
    const index = this.boots.length + 1;
    const entry = await defaultBootEntry(this.o.systemDisk);
    const files = await extractBootFiles(this.o.systemDisk, entry, this.o.work);
    const name = `boot${index}-${phase.name}`;
    const consoleLog = join(this.o.artifacts, `${name}.ttyS0.log`);
    const testLog = join(this.o.artifacts, `${name}.ttyS1.log`);
    this.o.log(`boot ${index} (${phase.name}): ${entry.title} [${entry.file}]`);
    const log = newBootLog();
    const started = Date.now();
    let bootSeconds: number | undefined;
    const run = await bootOnce({
      systemDisk: this.o.systemDisk, testDisk: this.o.testDisk, kernel: files.kernel, initrd: files.initrd,
      append: bootArguments(entry, phase.name), consoleLog, testLog, totalMs: this.o.totalMs, idleMs: this.o.idleMs,
      onTestLine: (line) => {
        if (line.startsWith('AUTOTEST begin')) {
          bootSeconds = (Date.now() - started) / 1000;
          this.o.log(`boot ${index}: up after ${bootSeconds.toFixed(0)}s (${line.slice('AUTOTEST begin '.length)})`);
        }
        const kind = feedLine(log, line);
        if (kind === 'begin' || kind === 'pass' || kind === 'fail' || kind === 'end') this.o.log(`  ${line.slice('VMTEST '.length)}`);
        else if (line.startsWith('AUTOTEST end')) this.o.log(`boot ${index}: ${line}`);
      },
    });
    const record: BootRecord = { index, phase: phase.name, entry, run, log, bootSeconds, consoleLog, testLog };
    this.boots.push(record);
    const qemuFailed = run.outcome === 'poweroff' && run.code !== 0 ? ` (qemu exit ${run.code}: ${run.stderr.trim()})` : '';
    this.o.log(`boot ${index} (${phase.name}): ${run.outcome} after ${run.seconds.toFixed(0)}s${qemuFailed}`);
    return record;
  }
}

/** Whether a boot went as a boot should: the guest ran its phase to the end and powered off. */
export function bootCompleted(b: BootRecord): boolean {
  return b.run.outcome === 'poweroff' && b.run.code === 0 && b.log.done && b.log.phase === b.phase;
}
