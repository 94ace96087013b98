import { access, readFile, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AptOstreeError } from '../../lib/errors.js';
import { KeyFile } from '../../lib/keyfile.js';
import { entryField, readBootEntries, type BootEntry } from './boot-entry.js';
import { bootedDeploymentPath } from './booted.js';
import type { Deployment } from './deployment.js';
import { readStagedKargs } from './staged-kargs.js';

export interface Sysroot {
  path: string;
  repoPath: string;
  /** Which of /boot/loader.0 and /boot/loader.1 is live. */
  bootversion: number;
  subbootversion: number;
  /** All deployments of all stateroots in boot order (a staged one first). */
  deployments: Deployment[];
  booted: Deployment | undefined;
  /** Stateroots (`/ostree/deploy/<os>`). */
  osnames: string[];
}

export async function assertIsSysroot(path: string): Promise<void> {
  try {
    await access(join(path, 'ostree/repo/config'));
    await access(join(path, 'ostree/deploy'));
  } catch {
    throw new AptOstreeError('not-a-sysroot', `${path} is not an OSTree sysroot (no ostree/repo and ostree/deploy)`,
      'pass --sysroot with the root of an OSTree system, or set up one with `ostree admin init-fs`');
  }
}

export async function loadSysroot(path: string): Promise<Sysroot> {
  const sysrootPath = resolve(path);
  await assertIsSysroot(sysrootPath);
  const bootversion = await readVersionLink(join(sysrootPath, 'boot/loader'), /^loader\.([01])$/);
  const osnames = (await readdir(join(sysrootPath, 'ostree/deploy'), { withFileTypes: true }))
    .filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const entries = await readBootEntries(join(sysrootPath, `boot/loader.${bootversion}/entries`));

  const deployments: Deployment[] = [];
  let subbootversion = 0;
  for (const entry of entries) {
    const found = await deploymentOfEntry(sysrootPath, entry);
    if (found === undefined) continue;
    subbootversion = found.subbootversion;
    deployments.push(found.deployment);
  }
  const staged = await stagedDeployment(sysrootPath, osnames, deployments);
  if (staged) deployments.unshift(staged);

  const bootedPath = await bootedDeploymentPath(sysrootPath, deployments.map((d) => d.path));
  const booted = deployments.find((d) => d.path === bootedPath);
  if (booted) booted.booted = true;
  // A staged deployment has no boot entry yet: its kernel arguments are those recorded when it was staged, or else
  // the booted deployment's, which ostree-finalize-staged gives it.
  if (staged) staged.kargs = (await readStagedKargs(`${staged.checksum}.${staged.serial}`)) ?? booted?.kargs ?? [];
  deployments.forEach((d, i) => { d.index = i; });
  for (const os of osnames) markRollback(deployments.filter((d) => d.osname === os));
  return { path: sysrootPath, repoPath: join(sysrootPath, 'ostree/repo'), bootversion, subbootversion, deployments, booted, osnames };
}

/** Offline, the default deployment plays the booted one: the rollback is the next one of the same stateroot. */
function markRollback(ofOs: Deployment[]): void {
  const current = ofOs.find((d) => d.booted) ?? ofOs.find((d) => !d.staged);
  if (current === undefined) return;
  const next = ofOs[ofOs.indexOf(current) + 1];
  if (next) next.rollback = true;
}

async function readVersionLink(link: string, pattern: RegExp): Promise<number> {
  try {
    const m = pattern.exec(await readlink(link));
    return m?.[1] !== undefined ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const OSTREE_KARG = /^ostree=\/ostree\/boot\.([01])\/([^/]+)\/([0-9a-f]{64})\/(\d+)$/;

async function deploymentOfEntry(
  sysrootPath: string,
  entry: BootEntry,
): Promise<{ deployment: Deployment; subbootversion: number } | undefined> {
  const options = (entryField(entry, 'options') ?? '').split(/\s+/).filter((s) => s !== '');
  const ostreeArg = options.map((o) => OSTREE_KARG.exec(o)).find((m) => m !== null);
  if (!ostreeArg) return undefined;
  const [, bootversion, osname, bootcsum, bootserial] = ostreeArg as unknown as [string, string, string, string, string];
  const bootLink = join(sysrootPath, `ostree/boot.${bootversion}`);
  const subbootversion = await readVersionLink(bootLink, /^boot\.[01]\.([01])$/);
  const link = join(bootLink, osname, bootcsum, bootserial);
  let target: string;
  try {
    target = resolve(dirname(link), await readlink(link));
  } catch {
    return undefined;
  }
  const m = /^([0-9a-f]{64})\.(\d+)$/.exec(basename(target));
  if (!m?.[1] || m[2] === undefined) return undefined;
  const path = join(sysrootPath, 'ostree/deploy', osname, 'deploy', `${m[1]}.${m[2]}`);
  const originPath = `${path}.origin`;
  const origin = await readOrigin(originPath);
  return {
    subbootversion,
    deployment: {
      index: 0,
      osname,
      checksum: m[1],
      serial: Number(m[2]),
      bootcsum,
      bootserial: Number(bootserial),
      path,
      originPath,
      origin,
      kargs: options.filter((o) => !o.startsWith('ostree=')),
      bootEntryFile: entry.file,
      booted: false,
      staged: false,
      pinned: origin?.getBoolean('libostree-transient', 'pinned') ?? false,
      rollback: false,
    },
  };
}

async function readOrigin(path: string): Promise<KeyFile | undefined> {
  try {
    return KeyFile.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A staged deployment (written at shutdown by ostree-finalize-staged) has a directory but no boot entry yet;
 * libostree records it in /run/ostree/staged-deployment, so it only exists on a booted system.
 */
async function stagedDeployment(sysrootPath: string, osnames: string[], known: Deployment[]): Promise<Deployment | undefined> {
  if (resolve(sysrootPath) !== '/' && resolve(sysrootPath) !== '/sysroot') return undefined;
  try {
    await access('/run/ostree/staged-deployment');
  } catch {
    return undefined;
  }
  for (const osname of osnames) {
    const dir = join(sysrootPath, 'ostree/deploy', osname, 'deploy');
    for (const name of await readdir(dir)) {
      const m = /^([0-9a-f]{64})\.(\d+)$/.exec(name);
      if (!m?.[1] || known.some((d) => d.path === join(dir, name))) continue;
      const originPath = join(dir, `${name}.origin`);
      const origin = await readOrigin(originPath);
      return {
        index: 0, osname, checksum: m[1], serial: Number(m[2]), bootcsum: '', bootserial: 0, path: join(dir, name),
        originPath, origin, kargs: [], bootEntryFile: undefined, booted: false, staged: true,
        pinned: false, rollback: false,
      };
    }
  }
  return undefined;
}
