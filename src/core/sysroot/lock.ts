import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';

/**
 * OSTree's sysroot lock is an fcntl (OFD) record lock on /ostree/lock. Node can not take fcntl locks, so a tiny
 * perl process (perl-base is Essential in Debian) takes it and holds it until its stdin closes, which also happens
 * when we are killed: the kernel drops the lock with the holder, so no crash leaves a stale lock behind.
 */
const HOLDER = String.raw`
use strict; use Fcntl;
my $path = $ARGV[0];
sysopen(my $fh, $path, O_RDWR | O_CREAT, 0600) or do { print "ERROR $!\n"; exit 2 };
my $lk = pack('s s x4 q q l x4', F_WRLCK, 0, 0, 0, 0);
if (!fcntl($fh, F_SETLK, $lk)) { print "BUSY\n"; exit 1 }
$| = 1; print "LOCKED\n";
while (sysread(STDIN, my $buf, 64)) {}
exit 0;
`;

class HeldLock {
  constructor(private readonly child: ChildProcessWithoutNullStreams, readonly path: string) {}

  async release(): Promise<void> {
    if (this.child.exitCode !== null) return;
    // Keep the event loop alive until the holder is gone: the lock must be released before we exit.
    this.child.ref();
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => { resolve(); }));
    this.child.stdin.end();
    await exited;
  }
}

/** Tries to take the lock without waiting; undefined when another process holds it. */
async function tryLock(path: string): Promise<HeldLock | undefined> {
  const child = spawn('perl', ['-e', HOLDER, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  const answer = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('error', (e) => { resolve(`ERROR ${e.message}`); });
    child.on('exit', () => { resolve(out.trim() || 'ERROR lock helper exited'); });
  });
  if (answer === 'LOCKED') {
    child.unref();
    return new HeldLock(child, path);
  }
  if (answer === 'BUSY') return undefined;
  throw new AptOstreeError('internal', `could not take the lock ${path}: ${answer}`);
}

export interface LockOwner {
  pid: number;
  title: string;
}

/**
 * The apt-ostree transaction lock of one sysroot, shared by the daemon and the in-process fallback. It lives in
 * /run (never inside the sysroot, which tests compare byte for byte) and is held for the whole transaction, while
 * OSTree's own lock is only probed: the `ostree admin` commands we run take that one themselves.
 */
export class SysrootLock {
  private constructor(private readonly held: HeldLock, private readonly infoPath: string) {}

  static lockPath(sysrootPath: string): string {
    const key = createHash('sha256').update(sysrootPath).digest('hex').slice(0, 16);
    return join(process.env.APT_OSTREE_RUNDIR ?? '/run/apt-ostree', `sysroot-${key}.lock`);
  }

  static async acquire(sysrootPath: string, title: string): Promise<SysrootLock> {
    const path = SysrootLock.lockPath(sysrootPath);
    await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
    const held = await tryLock(path);
    if (held === undefined) {
      const owner = await readOwner(`${path}.info`);
      throw new AptOstreeError('sysroot-locked',
        `another apt-ostree operation holds the sysroot lock${owner ? `: ${owner.title} (pid ${owner.pid})` : ''}`,
        'wait for it to finish, or stop it with `apt-ostree cancel`');
    }
    const ostreeLock = await tryLock(join(sysrootPath, 'ostree/lock'));
    if (ostreeLock === undefined) {
      await held.release();
      throw new AptOstreeError('sysroot-locked', 'an ostree command holds the sysroot lock (/ostree/lock)',
        'wait for the running `ostree admin` or rpm-ostree-like tool to finish, then try again');
    }
    await ostreeLock.release();
    const infoPath = `${path}.info`;
    await writeFile(infoPath, JSON.stringify({ pid: process.pid, title } satisfies LockOwner));
    return new SysrootLock(held, infoPath);
  }

  async release(): Promise<void> {
    await rm(this.infoPath, { force: true });
    await this.held.release();
  }
}

/** Holds OSTree's own sysroot lock while we write bootloader or origin files ourselves. */
export async function withOstreeLock<T>(sysrootPath: string, fn: () => Promise<T>): Promise<T> {
  const lock = await tryLock(join(sysrootPath, 'ostree/lock'));
  if (lock === undefined) {
    throw new AptOstreeError('sysroot-locked', 'an ostree command holds the sysroot lock (/ostree/lock)',
      'wait for it to finish, then try again');
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}
