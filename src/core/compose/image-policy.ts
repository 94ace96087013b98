/**
 * Treefile policies applied to a tree that already follows the base image contract: system accounts as a
 * systemd-sysusers fragment (`users: sysusers`) and the default kernel arguments.
 */
import { join } from 'node:path';
import { parsePasswd, parseGroup, formatSysusers, parseSysusersNames } from '../layering/users.js';
import { readdirOrEmpty, unlinkIfPresent, writeFileByRename } from './tree-fs.js';
import { readFile } from 'node:fs/promises';

export const IMAGE_SYSUSERS_FRAGMENT = 'usr/lib/sysusers.d/apt-ostree-image.conf';
/** bootc's place for an image's kernel arguments, so bootc and apt-ostree read the same file. */
export const IMAGE_KARGS_FILE = 'usr/lib/bootc/kargs.d/10-apt-ostree-treefile.toml';

/**
 * Every account of the image's /usr/etc passwd and group that no sysusers.d file declares yet. ostree's /etc
 * merge keeps a locally changed /etc/passwd as it is, so an account a new image version brings would otherwise
 * never appear on such a machine; systemd-sysusers creates it at boot with the id the image's files carry.
 */
export async function writeImageSysusers(tree: string): Promise<number> {
  const read = (rel: string): Promise<string> => readFile(join(tree, rel), 'utf8').catch(() => '');
  const declared = { users: new Set<string>(), groups: new Set<string>() };
  for (const name of await readdirOrEmpty(join(tree, 'usr/lib/sysusers.d'))) {
    if (join('usr/lib/sysusers.d', name) === IMAGE_SYSUSERS_FRAGMENT) continue;
    const names = parseSysusersNames(await read(join('usr/lib/sysusers.d', name)));
    for (const u of names.users) declared.users.add(u);
    for (const g of names.groups) declared.groups.add(g);
  }
  // root is always there; systemd's basic.conf declares the rest of the base accounts on most images.
  const users = parsePasswd(await read('usr/etc/passwd')).filter((u) => u.uid !== 0 && !declared.users.has(u.name));
  const groups = parseGroup(await read('usr/etc/group')).filter((g) => g.gid !== 0 && !declared.groups.has(g.name));
  const path = join(tree, IMAGE_SYSUSERS_FRAGMENT);
  if (users.length + groups.length === 0) {
    await unlinkIfPresent(path);
    return 0;
  }
  const memberships = groups.flatMap((g) => g.members.map((user) => ({ user, group: g.name })));
  const text = formatSysusers({ users, groups, memberships })
    .replace(/^#.*\n(#.*\n)*/, '# Written by apt-ostree compose: the image\'s accounts that no other sysusers.d file declares.\n');
  await writeFileByRename(path, text);
  return users.length + groups.length;
}

export async function writeImageKargs(tree: string, kargs: readonly string[]): Promise<void> {
  const path = join(tree, IMAGE_KARGS_FILE);
  if (kargs.length === 0) {
    await unlinkIfPresent(path);
    return;
  }
  await writeFileByRename(path, `# Written by apt-ostree compose from the treefile's kernel-args\nkargs = [${kargs.map((k) => JSON.stringify(k)).join(', ')}]\n`);
}
