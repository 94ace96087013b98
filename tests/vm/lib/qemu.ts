/**
 * One boot of the test machine: qemu with the kernel and initramfs the host extracted (bootloader.ts), the system disk
 * and the test disk, user-mode networking (the guest reaches the host at 10.0.2.2), until the guest powers off.
 *
 * TCG only: /dev/kvm is absent here, and where it exists (kvm_pvm) a stock kernel hangs early. Under TCG the guest is
 * some 50 times slower than the host, so a boot takes from half a minute on an idle host to several minutes on a
 * busy one; the limits are therefore about silence, not speed: a guest that prints nothing on either serial port for
 * `idleMs` is stuck (the guest script prints a heartbeat every minute), and `totalMs` bounds a boot anyway.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { runUnchecked } from '../../../src/lib/exec.js';

export interface BootOptions {
  systemDisk: string;
  testDisk: string;
  kernel: string;
  initrd: string;
  /** The kernel command line. */
  append: string;
  /** Where the console (ttyS0) goes. */
  consoleLog: string;
  /** Where the test output (ttyS1) goes; each line is also given to onTestLine. */
  testLog: string;
  onTestLine?: (line: string) => void;
  totalMs: number;
  idleMs: number;
  memoryMiB?: number;
  cpus?: number;
}

export interface BootRun {
  seconds: number;
  /** poweroff: qemu exited by itself (the guest powered off, or qemu failed: see code and stderr). */
  outcome: 'poweroff' | 'timeout' | 'stuck';
  code: number;
  stderr: string;
}

/** qemu splits option values on commas. */
function qemuPath(path: string): string {
  if (path.includes(',')) throw new Error(`qemu can not take a path with a comma: ${path}`);
  return path;
}

export function qemuArgv(o: BootOptions): string[] {
  return [
    'qemu-system-x86_64', '-accel', 'tcg,thread=multi', '-nodefaults', '-cpu', 'max',
    '-m', String(o.memoryMiB ?? 2048), '-smp', String(o.cpus ?? 2),
    '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-serial', `file:${qemuPath(o.consoleLog)}`, '-serial', 'stdio',
    // cache=unsafe: the images are scratch copies; the guest's syncs need not reach the host's disk.
    '-drive', `file=${qemuPath(o.systemDisk)},format=raw,if=virtio,cache=unsafe`,
    '-drive', `file=${qemuPath(o.testDisk)},format=raw,if=virtio,cache=unsafe`,
    '-nic', 'user,model=virtio-net-pci',
    '-kernel', qemuPath(o.kernel), '-initrd', qemuPath(o.initrd), '-append', o.append,
  ];
}

export async function bootOnce(o: BootOptions): Promise<BootRun> {
  const started = Date.now();
  const testLog = createWriteStream(o.testLog);
  const abort = new AbortController();
  let reason: BootRun['outcome'] | undefined;
  let lastActivity = Date.now();
  let consoleSize = 0;
  const stop = (why: BootRun['outcome']): void => {
    reason ??= why;
    abort.abort();
  };
  const total = setTimeout(() => { stop('timeout'); }, o.totalMs);
  const watch = setInterval(() => {
    void stat(o.consoleLog).then((st) => {
      if (st.size !== consoleSize) {
        consoleSize = st.size;
        lastActivity = Date.now();
      }
    }, () => undefined).then(() => {
      if (Date.now() - lastActivity > o.idleMs) stop('stuck');
    });
  }, 5000);
  try {
    const r = await runUnchecked(qemuArgv(o), {
      signal: abort.signal,
      onStdoutLine: (line) => {
        lastActivity = Date.now();
        testLog.write(`${line}\n`);
        o.onTestLine?.(line.replace(/\r$/, ''));
      },
    });
    return { seconds: (Date.now() - started) / 1000, outcome: 'poweroff', code: r.code, stderr: r.stderr };
  } catch (err) {
    if (reason === undefined) throw err;
    return { seconds: (Date.now() - started) / 1000, outcome: reason, code: -1, stderr: '' };
  } finally {
    clearTimeout(total);
    clearInterval(watch);
    await new Promise<void>((resolve) => { testLog.end(resolve); });
  }
}
