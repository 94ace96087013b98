/**
 * System users and groups that maintainer scripts create (`adduser --system`, `useradd --system`) land in the new
 * tree's /usr/etc/passwd and group. ostree's 3-way /etc merge keeps a locally modified /etc/passwd as it is, so
 * on a machine where the admin added a user, the new deployment would never see them. Three measures:
 *
 * 1. While dpkg runs, the tree's passwd and group also hold the local accounts (reserveLocalAccounts), so that
 *    scripts pick ids no local account uses; they are taken out again afterwards and never reach the commit.
 *    rpm-ostree does the same with the merge deployment's /etc/passwd.
 * 2. The accounts the scripts added are written as a systemd-sysusers fragment into the commit
 *    (usr/lib/sysusers.d/apt-ostree-layered.conf, same ids, home and shell). ostree removes /etc/.updated on
 *    each new deployment, so systemd-sysusers.service (ConditionNeedsUpdate=/etc) creates the missing ones at
 *    its first boot; it also covers an /etc reset and new stateroots.
 * 3. mergeUsersIntoDeployment adds them to the new deployment's /etc right after `ostree admin deploy`, so they
 *    exist before the first boot (tmpfiles.d lines and services need them early).
 *
 * Ids are never renumbered: files and tmpfiles.d lines of the commit carry the numeric ids the scripts chose. When
 * the admin's /etc already gives such an id to another account, merging fails with 'account-conflict' instead of
 * creating two names for one id (systemd-sysusers would instead pick a new id, leaving the files to the other
 * account).
 */
import { chmod, chown, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { isErrno, unlinkIfPresent, writeFileByRename } from '../compose/tree-fs.js';

export const SYSUSERS_FRAGMENT = 'usr/lib/sysusers.d/apt-ostree-layered.conf';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
  line: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
  line: string;
}

export interface Accounts {
  users: PasswdEntry[];
  groups: GroupEntry[];
}

export interface LayeredAccounts extends Accounts {
  /** Users added to groups that existed before (`adduser kitd adm`). */
  memberships: { user: string; group: string }[];
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of lines(text)) {
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2] ?? '') || !/^\d+$/.test(f[3] ?? '')) continue;
    entries.push({
      name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), gecos: f[4] ?? '', home: f[5] ?? '', shell: f.slice(6).join(':'), line,
    });
  }
  return entries;
}

export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of lines(text)) {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2] ?? '')) continue;
    entries.push({ name: f[0] ?? '', gid: Number(f[2]), members: (f[3] ?? '').split(',').filter((m) => m !== ''), line });
  }
  return entries;
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return '';
    throw err;
  }
}

/** The accounts of an etc directory (a deployment's /etc or a tree's /usr/etc). */
export async function readAccounts(etcDir: string): Promise<Accounts> {
  const [passwd, group] = await Promise.all([readOrEmpty(join(etcDir, 'passwd')), readOrEmpty(join(etcDir, 'group'))]);
  return { users: parsePasswd(passwd), groups: parseGroup(group) };
}

export function diffAccounts(before: Accounts, after: Accounts): LayeredAccounts {
  const usersBefore = new Set(before.users.map((u) => u.name));
  const groupsBefore = new Map(before.groups.map((g) => [g.name, g]));
  const memberships: { user: string; group: string }[] = [];
  for (const g of after.groups) {
    const old = new Set(groupsBefore.get(g.name)?.members ?? []);
    for (const user of g.members) if (!old.has(user)) memberships.push({ user, group: g.name });
  }
  return {
    users: after.users.filter((u) => !usersBefore.has(u.name)),
    groups: after.groups.filter((g) => !groupsBefore.has(g.name)),
    memberships,
  };
}

/** A sysusers.d field: `-` for empty, specifiers escaped, quoted when it holds blanks or quotes. */
function sysusersField(value: string): string {
  if (value === '') return '-';
  const escaped = value.replaceAll('%', '%%');
  return /[\s"'\\]/.test(escaped) ? `"${escaped.replace(/["\\]/g, (c) => `\\${c}`)}"` : escaped;
}

export function formatSysusers(accounts: LayeredAccounts): string {
  return [
    '# Written by apt-ostree: users and groups created by maintainer scripts of layered packages, with the ids',
    '# the files of this commit carry. systemd-sysusers creates the ones /etc lacks (a locally changed',
    '# /etc/passwd is kept by the /etc merge of a new deployment).',
    ...accounts.groups.map((g) => `g ${g.name} ${g.gid}`),
    ...accounts.users.map((u) => `u ${u.name} ${u.uid}:${u.gid} ${sysusersField(u.gecos)} ${sysusersField(u.home)} ${sysusersField(u.shell)}`),
    ...accounts.memberships.map((m) => `m ${m.user} ${m.group}`),
    '',
  ].join('\n');
}

/** Writes (or, with nothing to declare, removes) the tree's sysusers fragment. */
export async function writeSysusersFragment(tree: string, accounts: LayeredAccounts): Promise<void> {
  const path = join(tree, SYSUSERS_FRAGMENT);
  if (accounts.users.length + accounts.groups.length + accounts.memberships.length === 0) await unlinkIfPresent(path);
  else await writeFileByRename(path, formatSysusers(accounts));
}

/** Names of the accounts a sysusers fragment declares. */
export function parseSysusersNames(text: string): { users: string[]; groups: string[]; memberships: { user: string; group: string }[] } {
  const users: string[] = [];
  const groups: string[] = [];
  const memberships: { user: string; group: string }[] = [];
  for (const line of lines(text)) {
    const [type, name, group] = line.trim().split(/\s+/);
    if (name === undefined) continue;
    if (type === 'u') users.push(name);
    else if (type === 'g') groups.push(name);
    else if (type === 'm' && group !== undefined) memberships.push({ user: name, group });
  }
  return { users, groups, memberships };
}

/**
 * Replaces a file by a new one with `text`, keeping its owner and mode (shadow is root:shadow 0640): the new file
 * is made beside it and renamed over, so a reader sees the old or the new content, never half of it.
 */
async function replaceKeepingOwner(path: string, text: string): Promise<void> {
  const st = await stat(path);
  const tmp = join(dirname(path), `.${basename(path)}.apt-ostree-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(tmp, text, { flag: 'wx', mode: 0o600 });
    await chown(tmp, st.uid, st.gid);
    await chmod(tmp, st.mode & 0o7777);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function appendLines(text: string, added: readonly string[]): string {
  if (added.length === 0) return text;
  return `${text === '' || text.endsWith('\n') ? text : `${text}\n`}${added.join('\n')}\n`;
}

export interface AccountReservation {
  users: string[];
  groups: string[];
}

/**
 * Adds the accounts of `localEtc` that the tree lacks to the tree's usr/etc passwd and group, so that ids chosen
 * by maintainer scripts do not collide with them. Undo with releaseLocalAccounts before committing.
 */
/**
 * Accounts an earlier layering created (declared in the merge deployment's sysusers fragment). Re-layering must keep
 * them: the package's `adduser` finds the user already there and does nothing, so without this they would vanish
 * from the new commit — and with them the daemon's user, whenever the admin never edited /etc/passwd.
 */
export async function previouslyLayeredAccounts(localEtc: string): Promise<AccountReservation> {
  const { users, groups } = parseSysusersNames(await readOrEmpty(join(localEtc, '..', SYSUSERS_FRAGMENT)));
  return { users, groups };
}

/**
 * Adds the local accounts to the tree while scripts run, so they pick ids nobody local uses. Those in `keep`
 * (earlier layered accounts) stay in the commit; the rest are released again before it.
 */
export async function reserveLocalAccounts(tree: string, localEtc: string, keep: AccountReservation = { users: [], groups: [] }):
  Promise<AccountReservation> {
  const usrEtc = join(tree, 'usr/etc');
  const [mine, local] = await Promise.all([readAccounts(usrEtc), readAccounts(localEtc)]);
  const userNames = new Set(mine.users.map((u) => u.name));
  const groupNames = new Set(mine.groups.map((g) => g.name));
  const users = local.users.filter((u) => !userNames.has(u.name));
  const groups = local.groups.filter((g) => !groupNames.has(g.name));
  if (users.length > 0) {
    await replaceKeepingOwner(join(usrEtc, 'passwd'), appendLines(await readOrEmpty(join(usrEtc, 'passwd')), users.map((u) => u.line)));
  }
  if (groups.length > 0) {
    await replaceKeepingOwner(join(usrEtc, 'group'), appendLines(await readOrEmpty(join(usrEtc, 'group')), groups.map((g) => g.line)));
  }
  return {
    users: users.map((u) => u.name).filter((n) => !keep.users.includes(n)),
    groups: groups.map((g) => g.name).filter((n) => !keep.groups.includes(n)),
  };
}

export async function releaseLocalAccounts(tree: string, reservation: AccountReservation): Promise<void> {
  const usrEtc = join(tree, 'usr/etc');
  const drop = async (file: string, names: readonly string[]): Promise<void> => {
    if (names.length === 0) return;
    const reserved = new Set(names);
    const text = await readOrEmpty(join(usrEtc, file));
    const kept = text.split('\n').filter((l) => l === '' || !reserved.has(l.split(':')[0] ?? ''));
    await replaceKeepingOwner(join(usrEtc, file), kept.join('\n'));
  };
  await drop('passwd', reservation.users);
  await drop('group', reservation.groups);
}

export interface UserMergeReport {
  addedUsers: string[];
  addedGroups: string[];
  /** Layered accounts the deployment's /etc already had under the same name: left as the admin has them. */
  kept: string[];
  warnings: string[];
}

interface AccountFile {
  name: 'passwd' | 'group' | 'shadow' | 'gshadow';
  added: string[];
}

/**
 * After `ostree admin deploy` of a layered commit: adds the users and groups the layered packages created (those
 * named by the deployment's sysusers fragment) to the deployment's /etc passwd, group, shadow and gshadow when
 * missing. Existing entries are never changed. Throws 'account-conflict' before writing anything when an id is
 * taken by another account in that /etc.
 */
export async function mergeUsersIntoDeployment(deploymentPath: string, treeUsrEtc = join(deploymentPath, 'usr/etc')):
  Promise<UserMergeReport> {
  const report: UserMergeReport = { addedUsers: [], addedGroups: [], kept: [], warnings: [] };
  const declared = parseSysusersNames(await readOrEmpty(join(deploymentPath, SYSUSERS_FRAGMENT)));
  if (declared.users.length + declared.groups.length === 0) return report;
  const etc = join(deploymentPath, 'etc');
  const [target, source] = await Promise.all([readAccounts(etc), readAccounts(treeUsrEtc)]);
  const conflicts: string[] = [];
  const files: Record<AccountFile['name'], AccountFile> = {
    passwd: { name: 'passwd', added: [] }, group: { name: 'group', added: [] },
    shadow: { name: 'shadow', added: [] }, gshadow: { name: 'gshadow', added: [] },
  };
  const [sourceShadow, sourceGshadow] = await Promise.all([
    readOrEmpty(join(treeUsrEtc, 'shadow')), readOrEmpty(join(treeUsrEtc, 'gshadow'))]);
  const lineOf = (text: string, name: string): string | undefined => lines(text).find((l) => l.split(':')[0] === name);

  for (const name of declared.groups) {
    const group = source.groups.find((g) => g.name === name);
    if (!group) {
      report.warnings.push(`group ${name} is declared by ${SYSUSERS_FRAGMENT} but missing from ${treeUsrEtc}/group`);
      continue;
    }
    const existing = target.groups.find((g) => g.name === name);
    if (existing) {
      report.kept.push(`group ${name}`);
      if (existing.gid !== group.gid) {
        report.warnings.push(`group ${name} has gid ${existing.gid} in /etc/group, the layered packages use ${group.gid}`);
      }
      continue;
    }
    const holder = target.groups.find((g) => g.gid === group.gid);
    if (holder) {
      conflicts.push(`gid ${group.gid} of group ${name} belongs to group ${holder.name}`);
      continue;
    }
    files.group.added.push(group.line);
    files.gshadow.added.push(lineOf(sourceGshadow, name) ?? `${name}:!::`);
    report.addedGroups.push(name);
  }
  const knownGids = new Set([...target.groups.map((g) => g.gid),
    ...source.groups.filter((g) => report.addedGroups.includes(g.name)).map((g) => g.gid)]);
  for (const name of declared.users) {
    const user = source.users.find((u) => u.name === name);
    if (!user) {
      report.warnings.push(`user ${name} is declared by ${SYSUSERS_FRAGMENT} but missing from ${treeUsrEtc}/passwd`);
      continue;
    }
    const existing = target.users.find((u) => u.name === name);
    if (existing) {
      report.kept.push(`user ${name}`);
      if (existing.uid !== user.uid) {
        report.warnings.push(`user ${name} has uid ${existing.uid} in /etc/passwd, the layered packages use ${user.uid}`);
      }
      continue;
    }
    const holder = target.users.find((u) => u.uid === user.uid);
    if (holder) {
      conflicts.push(`uid ${user.uid} of user ${name} belongs to user ${holder.name}`);
      continue;
    }
    if (!knownGids.has(user.gid)) report.warnings.push(`user ${name}'s primary gid ${user.gid} has no group in /etc/group`);
    files.passwd.added.push(user.line);
    files.shadow.added.push(lineOf(sourceShadow, name) ?? [name, '!*', '', '', '', '', '', '', ''].join(':'));
    report.addedUsers.push(name);
  }
  for (const m of declared.memberships) {
    const group = target.groups.find((g) => g.name === m.group);
    if (group && !group.members.includes(m.user)) {
      report.warnings.push(`${m.user} is not added to the existing group ${m.group} (existing entries are left as they are); `
        + 'systemd-sysusers adds the membership at the next boot');
    }
  }
  if (conflicts.length > 0) {
    throw new AptOstreeError('account-conflict',
      `accounts of the layered packages clash with accounts in ${etc}: ${conflicts.join('; ')}`,
      'the ids were chosen without knowing these local accounts; build the layered commit again from this /etc '
      + '(apt-ostree reserves local ids while scripts run), or give the local account another id');
  }
  for (const file of Object.values(files)) {
    if (file.added.length === 0) continue;
    const path = join(etc, file.name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // A system without shadow files keeps it that way.
      if (isErrno(err, 'ENOENT') && (file.name === 'shadow' || file.name === 'gshadow')) continue;
      throw err;
    }
    await replaceKeepingOwner(path, appendLines(text, file.added));
  }
  return report;
}
