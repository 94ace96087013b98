/**
 * The base commits of layered deployments, kept from pruning. A layered commit has its base as parent, and libostree
 * keeps only what a ref or a deployment points at, without parents: once the remote's ref has moved on and the plain
 * base deployment is gone, the next prune (every `ostree admin deploy` runs one) would delete the base that every
 * later change to the layered deployment starts from — a rollback to it could then change nothing. The refs
 * `apt-ostree/base/N` name each base still in use (rpm-ostree keeps rpmostree/base/N for the same reason); they are
 * written before anything that prunes, and the ones no deployment needs any more are dropped after.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LAYERED_METADATA_KEYS } from '../layering/commit.js';
import { ostree } from '../ostree/ostree-cli.js';
import { commitMetadataString } from '../ostree/repo.js';
import type { Sysroot } from './sysroot.js';

export const BASE_REF_PREFIX = 'apt-ostree/base';

/** Commit metadata never changes: each commit's base is asked of ostree once per process (the daemon lives long). */
const knownBases = new Map<string, string | undefined>();

/** The base of a layered commit; undefined for a plain (base) commit. */
export async function layeredBaseOf(repo: string, commit: string): Promise<string | undefined> {
  if (knownBases.has(commit)) return knownBases.get(commit);
  const base = await commitMetadataString(repo, commit, LAYERED_METADATA_KEYS.base);
  const layeredBase = base !== undefined && base !== commit ? base : undefined;
  knownBases.set(commit, layeredBase);
  return layeredBase;
}

/**
 * Points apt-ostree/base/0… at the bases of the sysroot's layered deployments and of `alsoLayered` (a layered commit
 * about to be deployed), and drops the refs beyond them.
 */
export async function protectBaseCommits(sysroot: Pick<Sysroot, 'repoPath' | 'deployments'>, alsoLayered: readonly string[] = []): Promise<void> {
  const repo = sysroot.repoPath;
  const commits = [...new Set([...sysroot.deployments.map((d) => d.checksum), ...alsoLayered])];
  const bases = [...new Set((await Promise.all(commits.map((c) => layeredBaseOf(repo, c))))
    .filter((b): b is string => b !== undefined))].sort();
  const existing = await readBaseRefs(repo);
  for (const [i, base] of bases.entries()) {
    if (existing.get(i) === base) continue;
    await ostree(['refs', `--repo=${repo}`, '--force', `--create=${BASE_REF_PREFIX}/${i}`, base]);
  }
  // Highest first: should --delete take base/1 as a prefix, base/10 (past the end too) is gone already.
  for (const i of [...existing.keys()].filter((n) => n >= bases.length).sort((a, b) => b - a)) {
    await ostree(['refs', `--repo=${repo}`, '--delete', `${BASE_REF_PREFIX}/${i}`]);
  }
}

/** The refs as they are: plain files under refs/heads (what `ostree refs` lists), index → commit. */
async function readBaseRefs(repo: string): Promise<Map<number, string>> {
  const dir = join(repo, 'refs/heads', BASE_REF_PREFIX);
  const refs = new Map<number, string>();
  for (const name of await readdir(dir).catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const commit = (await readFile(join(dir, name), 'utf8').catch(() => '')).trim();
    refs.set(Number(name), commit);
  }
  return refs;
}
