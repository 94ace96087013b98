/**
 * What the guest runs and what the host expects of it. tests/vm/guest/run.sh is fixed shell text; the host gives it
 * the values of this run in vm.env beside it on the test disk, checked here to be plain tokens (commit checksums,
 * versions, a ref), so the file is data even though the guest sources it.
 *
 * The plan: one phase per boot, each a list of parts. The steps, spread over the boots so that each reboot
 * is one the issue asks for; changes made in one boot stack on each other (kargs on the install, initramfs --enable
 * on the upgrade), as they do for a user, so four boots check everything:
 *   base        1 status/daemon-ping/activation · 6 polkit · 2a install chrony · 3a kargs --append
 *   layered     2b chrony runs · 3b the karg is on the command line · 4a upgrade to v2 · 3c initramfs --enable
 *   upgraded    4b booted v2, chrony re-applied · 3d the regenerated initramfs booted · 5a usroverlay · 5b rollback
 *   rolledback  5c back on the previous deployment, /usr read-only again · 7 apply-live · 8a automatic update staged
 *   staged      8b the staged deployment was finalized at shutdown and boots
 */
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VmImage } from './image.js';
import { REMOTE } from './disk.js';

const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), '../guest');

export interface Phase {
  name: string;
  parts: readonly string[];
}

export const PHASES: readonly Phase[] = [
  { name: 'base', parts: ['1', '6', '2a', '3a'] },
  { name: 'layered', parts: ['2b', '3b', '4a', '3c'] },
  { name: 'upgraded', parts: ['4b', '3d', '5a', '5b'] },
  { name: 'rolledback', parts: ['5c', '7', '8a'] },
  { name: 'staged', parts: ['8b'] },
];

/** The steps, for the summary: each is the parts with its number. */
export const STEPS: readonly { step: string; title: string }[] = [
  { step: '1', title: 'status, daemon-ping, bus activation' },
  { step: '2', title: 'install chrony, reboot: chronyd runs' },
  { step: '3', title: 'kargs --append, reboot; initramfs --enable, reboot' },
  { step: '4', title: 'upgrade to v2 over HTTP, chrony re-applied' },
  { step: '5', title: 'rollback; usroverlay until the next boot' },
  { step: '6', title: 'polkit refuses a non-root install' },
  { step: '7', title: 'apply-live of an added package' },
  { step: '8', title: 'automatic update staged, finalized at shutdown' },
];

export function stepOf(part: string): string {
  return part.replace(/[a-z]+$/, '');
}

function token(name: string, value: string): string {
  if (!/^[\w.:/+~-]+$/.test(value)) throw new Error(`${name} is not a plain token: ${JSON.stringify(value)}`);
  return `${name}=${value}`;
}

/** Fills `dir` (the future test disk) with run.sh and vm.env. */
export async function writeGuestFiles(dir: string, image: VmImage): Promise<void> {
  await mkdir(join(dir, 'state'), { recursive: true });
  await copyFile(join(GUEST_DIR, 'run.sh'), join(dir, 'run.sh'));
  await chmod(join(dir, 'run.sh'), 0o755);
  await writeFile(join(dir, 'vm.env'), [
    '# Written by tests/vm/lib/guest-script.ts for this run.',
    token('V1', image.v1.commit), token('V2', image.v2.commit), token('V2_VERSION', image.v2.version),
    token('REF', image.ref), token('REMOTE', REMOTE), '',
  ].join('\n'));
}
