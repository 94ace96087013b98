import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AptOstreeError, oneLine } from '../../lib/errors.js';
import { ExecError } from '../../lib/exec.js';
import { pathExists } from '../../lib/fs.js';
import { ostree } from '../ostree/ostree-cli.js';
import { commitHistory, listRefs, revParse } from '../ostree/repo.js';
import { deltaFallback, deltaSize, generateDelta, listDeltas } from './publish/deltas.js';
import { isSignedBy, openSigner, signCommit, signerKeyName, summarySignArgs, type Signer } from './publish/signing.js';

/**
 * `compose publish`: makes a repository ready to serve to a fleet. Tips are signed first, then the static deltas
 * are generated (a delta embeds its target's signatures, so the order matters), then the summary is regenerated —
 * and signed, so clients can verify what the server says the refs are (gpg-verify-summary).
 */
export interface PublishOptions {
  repo: string;
  /** A key file (OpenPGP or ed25519 secret key), or with gpgHomedir a key id. */
  signKey?: string | undefined;
  gpgHomedir?: string | undefined;
  /** Deltas from each of the last N ancestors to the tip (0: none). */
  staticDeltas: number;
  /** Refs to publish; default every local ref of the repository. */
  refs?: readonly string[] | undefined;
  onProgress?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export type SignatureType = 'gpg' | 'ed25519';

export interface PublishedDelta {
  /** The ref whose tip the delta leads to; null for an older delta refreshed because its target was signed. */
  ref: string | null;
  /** null: a from-scratch delta. */
  from: string | null;
  to: string;
  /** Bytes on disk: superblock and parts. */
  size: number;
  /** Objects the delta leaves out (large files), fetched separately by clients: their number and compressed size. */
  fallbackObjects: number;
  fallbackSize: number;
}

export interface PublishReport {
  repo: string;
  /** The signing key: a GPG fingerprint or an ed25519 public key (base64); null when publishing unsigned. */
  signing: { type: SignatureType; key: string } | null;
  refs: { ref: string; commit: string }[];
  deltasGenerated: PublishedDelta[];
  /** Deltas that were already there and still current. */
  deltasExisting: PublishedDelta[];
  commitsSigned: { ref: string; commit: string }[];
  commitsAlreadySigned: { ref: string; commit: string }[];
  /** Ancestors that have no delta because the repository lacks their content (e.g. pulled commit metadata only). */
  ancestorsSkipped: { ref: string; commit: string }[];
  summary: { updated: true; signed: boolean; type: SignatureType | null };
}

export async function publish(opts: PublishOptions): Promise<PublishReport> {
  const say = opts.onProgress ?? ((): void => undefined);
  if (!Number.isInteger(opts.staticDeltas) || opts.staticDeltas < 0) {
    throw new AptOstreeError('invalid-argument', `--static-deltas must be a non-negative number, not ${opts.staticDeltas}`,
      'give how many ancestors of each tip get a delta, e.g. --static-deltas 1');
  }
  if (opts.gpgHomedir !== undefined && opts.signKey === undefined) {
    throw new AptOstreeError('usage', '--gpg-homedir needs --sign-key KEYID', 'name the key to sign with');
  }
  await checkRepository(opts.repo);
  const refs = await refsToPublish(opts.repo, opts.refs);
  const signer = opts.signKey === undefined ? undefined : await openSigner({ signKey: opts.signKey, gpgHomedir: opts.gpgHomedir, signal: opts.signal });
  try {
    const report: PublishReport = {
      repo: opts.repo,
      signing: signer ? { type: signer.type, key: signerKeyName(signer) } : null,
      refs: refs.map(([ref, commit]) => ({ ref, commit })),
      deltasGenerated: [], deltasExisting: [], commitsSigned: [], commitsAlreadySigned: [], ancestorsSkipped: [],
      summary: { updated: true, signed: signer !== undefined, type: signer?.type ?? null },
    };
    const signedNow = new Set<string>();
    if (signer) await signTips(opts, signer, refs, report, signedNow, say);
    await generateDeltas(opts, refs, report, signedNow, say);
    say(signer ? `Updating the summary, signed with ${describe(signer)}` : 'Updating the summary (unsigned)');
    await updateSummary(opts.repo, signer, opts.signal);
    return report;
  } finally {
    await signer?.close();
  }
}

async function checkRepository(repo: string): Promise<void> {
  const config = await readFile(join(repo, 'config'), 'utf8').catch(() => undefined);
  if (config === undefined || !/^\s*\[core\]/m.test(config)) {
    throw new AptOstreeError('invalid-argument', `${repo} is not an OSTree repository`,
      'give the repository the server publishes, e.g. --repo /srv/ostree/repo');
  }
}

/** [ref, tip] pairs; local refs only, since the summary lists no others. */
async function refsToPublish(repo: string, wanted: readonly string[] | undefined): Promise<[string, string][]> {
  const names = wanted && wanted.length > 0 ? [...new Set(wanted)] : (await listRefs(repo)).filter((r) => !r.includes(':'));
  if (names.length === 0) {
    throw new AptOstreeError('invalid-argument', `${repo} has no refs to publish`, 'commit a tree first (`apt-ostree compose …`)');
  }
  const out: [string, string][] = [];
  for (const ref of names) {
    const tip = ref.includes(':') ? undefined : await revParse(repo, ref);
    if (tip === undefined) {
      throw new AptOstreeError('unknown-revision', `the repository ${repo} has no ref '${ref}'`,
        `list its refs with \`ostree refs --repo=${repo}\``);
    }
    out.push([ref, tip]);
  }
  return out;
}

function describe(signer: Signer): string {
  return signer.type === 'gpg' ? `GPG key ${signerKeyName(signer)}` : `ed25519 key ${signer.publicKey}`;
}

async function signTips(
  opts: PublishOptions, signer: Signer, refs: [string, string][], report: PublishReport, signedNow: Set<string>,
  say: (line: string) => void,
): Promise<void> {
  const seen = new Set<string>();
  for (const [ref, tip] of refs) {
    if (seen.has(tip)) continue;
    seen.add(tip);
    if (await isSignedBy(opts.repo, tip, signer)) {
      report.commitsAlreadySigned.push({ ref, commit: tip });
      say(`${ref}: ${tip.slice(0, 12)} is already signed`);
      continue;
    }
    say(`${ref}: signing ${tip.slice(0, 12)} with ${describe(signer)}`);
    await signCommit(opts.repo, tip, signer, opts.signal);
    signedNow.add(tip);
    report.commitsSigned.push({ ref, commit: tip });
  }
}

async function generateDeltas(
  opts: PublishOptions, refs: [string, string][], report: PublishReport, signedNow: Set<string>, say: (line: string) => void,
): Promise<void> {
  const done = new Set<string>();
  await refreshSignedDeltas(opts, refs, report, signedNow, done, say);
  if (opts.staticDeltas === 0) return;
  for (const [ref, tip] of refs) {
    const ancestors = (await commitHistory(opts.repo, tip, opts.staticDeltas + 1)).slice(1);
    for (const { checksum: from } of ancestors) {
      const id = `${from}-${tip}`;
      if (done.has(id)) continue;
      done.add(id);
      if (await isPartial(opts.repo, from)) {
        report.ancestorsSkipped.push({ ref, commit: from });
        say(`${ref}: no delta from ${from.slice(0, 12)}: the repository does not hold its content`);
        continue;
      }
      const existing = await deltaSize(opts.repo, from, tip);
      if (existing !== undefined && !signedNow.has(tip)) {
        report.deltasExisting.push({ ref, from, to: tip, ...await sizes(opts.repo, from, tip, existing) });
        say(`${ref}: static delta ${from.slice(0, 12)} → ${tip.slice(0, 12)} exists`);
        continue;
      }
      say(`${ref}: generating the static delta ${from.slice(0, 12)} → ${tip.slice(0, 12)}`);
      const size = await generateDelta(opts.repo, from, tip, opts.signal);
      report.deltasGenerated.push({ ref, from, to: tip, ...await sizes(opts.repo, from, tip, size) });
    }
  }
}

/**
 * Deltas outside the window whose target was just signed: they carry the target's old signatures and would fail
 * verifying clients, so they are generated again (the window's own deltas are handled by the caller).
 */
async function refreshSignedDeltas(
  opts: PublishOptions, refs: [string, string][], report: PublishReport, signedNow: Set<string>, done: Set<string>,
  say: (line: string) => void,
): Promise<void> {
  if (signedNow.size === 0) return;
  const window = new Set<string>();
  for (const [, tip] of refs) {
    for (const c of (await commitHistory(opts.repo, tip, opts.staticDeltas + 1)).slice(1)) window.add(`${c.checksum}-${tip}`);
  }
  for (const { from, to } of await listDeltas(opts.repo)) {
    const id = from === undefined ? to : `${from}-${to}`;
    if (!signedNow.has(to) || window.has(id)) continue;
    done.add(id);
    say(`regenerating the static delta ${from?.slice(0, 12) ?? 'scratch'} → ${to.slice(0, 12)}: its target was signed`);
    const size = await generateDelta(opts.repo, from, to, opts.signal);
    report.deltasGenerated.push({ ref: refs.find(([, t]) => t === to)?.[0] ?? null, from: from ?? null, to, ...await sizes(opts.repo, from, to, size) });
  }
}

async function sizes(repo: string, from: string | undefined, to: string, size: number): Promise<Pick<PublishedDelta, 'size' | 'fallbackObjects' | 'fallbackSize'>> {
  const fallback = await deltaFallback(repo, from, to);
  return { size, fallbackObjects: fallback.objects, fallbackSize: fallback.size };
}

async function isPartial(repo: string, commit: string): Promise<boolean> {
  return pathExists(join(repo, 'state', `${commit}.commitpartial`));
}

async function updateSummary(repo: string, signer: Signer | undefined, signal: AbortSignal | undefined): Promise<void> {
  try {
    await ostree(['summary', '-u', `--repo=${repo}`, ...(signer ? summarySignArgs(signer) : [])], { signal });
  } catch (err) {
    // Never echo the argv: with ed25519 it holds the secret key.
    if (err instanceof ExecError) {
      throw new AptOstreeError('compose-failed', `updating the summary of ${repo} failed: ${oneLine(err.result.stderr.trim()).slice(0, 300)}`,
        'check that the repository is writable; the commits and deltas are in place, run publish again');
    }
    throw err;
  }
}
