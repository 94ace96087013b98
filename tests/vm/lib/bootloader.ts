/**
 * The host as the guest's boot loader: it reads the Boot Loader Specification entries `ostree admin deploy` wrote
 * straight out of the ext4 image with debugfs (no mount), takes the one a BLS boot loader would boot by default (the
 * highest `version`; ostree numbers the default deployment highest) and extracts its kernel and initramfs for
 * `qemu -kernel/-initrd`. So a reboot is: the guest powers off, the host reads the entries again and boots what the
 * guest chose. qemu's own reboot would reuse the old `ostree=` argument, which names a boot directory that the new
 * deployment just replaced.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../src/lib/exec.js';

export interface BootEntry {
  /** e.g. `/boot/loader.1/entries/ostree-2-debian.conf`. */
  file: string;
  title: string;
  version: number;
  /** The kernel command line of the entry. */
  options: string;
  /** Paths in the image. */
  linux: string;
  initrd: string;
}

/** debugfs takes its request as one string; ostree's names never need quoting, anything else is refused. */
function safePath(path: string): string {
  if (!/^[\w./+@:-]+$/.test(path)) throw new Error(`unexpected path in the disk image: ${JSON.stringify(path)}`);
  return path;
}

async function debugfs(image: string, request: string): Promise<string> {
  return (await run(['debugfs', '-R', request, image])).stdout;
}

/** The entry a BLS boot loader boots by default. */
export async function defaultBootEntry(image: string): Promise<BootEntry> {
  const stat = await debugfs(image, 'stat /boot/loader');
  const loader = /Fast link dest: "([^"]+)"/.exec(stat)?.[1];
  if (loader === undefined) throw new Error(`${image}: /boot/loader is not a symbolic link:\n${stat}`);
  const dir = `/boot/${safePath(loader)}/entries`;
  // `ls -p`: /inode/mode/uid/gid/name/size/ per entry.
  const names = (await debugfs(image, `ls -p ${dir}`)).split('\n')
    .map((l) => l.split('/')[5] ?? '').filter((n) => n.endsWith('.conf'));
  const entries: BootEntry[] = [];
  for (const name of names) entries.push(parseEntry(`${dir}/${safePath(name)}`, await debugfs(image, `cat ${dir}/${name}`)));
  const best = entries.sort((a, b) => b.version - a.version)[0];
  if (best === undefined) throw new Error(`${image}: no boot entry in ${dir}`);
  return best;
}

export function parseEntry(file: string, text: string): BootEntry {
  const keys = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) keys.set(m[1], m[2]);
  }
  const need = (k: string): string => {
    const v = keys.get(k);
    if (v === undefined) throw new Error(`${file}: no "${k}" line:\n${text}`);
    return v;
  };
  return { file, title: keys.get('title') ?? '', version: Number(need('version')), options: need('options'),
    linux: need('linux'), initrd: need('initrd') };
}

/**
 * Extracts the entry's kernel and initramfs into `dir`. Entry paths are relative to the boot file system, which is
 * the image's /boot (ostree keeps /boot on the root file system here and adds a `boot -> .` link for loaders that
 * prefix /boot).
 */
export async function extractBootFiles(image: string, entry: BootEntry, dir: string): Promise<{ kernel: string; initrd: string }> {
  const inImage = (p: string): string => safePath(p.startsWith('/boot/') ? p : `/boot${p}`);
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  await rm(kernel, { force: true });
  await rm(initrd, { force: true });
  // debugfs says so on stderr but exits 0 when a file is missing: the sizes tell.
  await debugfs(image, `dump ${inImage(entry.linux)} ${kernel}`);
  await debugfs(image, `dump ${inImage(entry.initrd)} ${initrd}`);
  for (const f of [kernel, initrd]) {
    const size = (await stat(f).catch(() => undefined))?.size ?? 0;
    if (size === 0) throw new Error(`could not extract ${f} from ${image} (entry ${entry.file})`);
  }
  return { kernel, initrd };
}
