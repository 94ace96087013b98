import { AptOstreeError } from '../../lib/errors.js';
import { commitHistory, hasCommit, isChecksum, revParse, type CommitInfo } from '../ostree/repo.js';
import { pull, withScratchRepo } from '../ostree/pull.js';
import { formatRefspec, printable, type Refspec } from '../refspec.js';
import type { EngineOptions, OsView } from './context.js';

/**
 * Finds the commit a user means by REV on the history of `refspec`: a full checksum, a checksum prefix
 * (7+ hex digits), `version=V` or a bare version. The remote's history is read into a scratch repository, so a
 * revision that does not exist leaves the sysroot untouched.
 */
export async function resolveRevision(opts: EngineOptions, view: OsView, refspec: Refspec, rev: string): Promise<string> {
  const wanted = parseRev(rev);
  const repo = view.sysroot.repoPath;
  if (wanted.kind === 'checksum' && await hasCommit(repo, wanted.value)) return wanted.value;

  const local = await revParse(repo, formatRefspec(refspec));
  if (local !== undefined) {
    const hit = matchIn(await commitHistory(repo, local), wanted);
    if (hit !== undefined) return hit;
  }
  if (refspec.remote === undefined) throw unknownRevision(rev, refspec);
  const remote = refspec.remote;
  if (wanted.kind === 'checksum') return wanted.value;
  return withScratchRepo(repo, remote, async (scratch) => {
    const tip = await pull(scratch, remote, refspec.ref, {
      progress: opts.progress, signal: opts.signal, commitMetadataOnly: true, depth: -1,
    });
    const hit = matchIn(await commitHistory(scratch, tip, 1000), wanted);
    if (hit === undefined) throw unknownRevision(rev, refspec);
    return hit;
  });
}

type Wanted = { kind: 'checksum' | 'prefix' | 'version'; value: string };

function parseRev(rev: string): Wanted {
  if (rev.startsWith('version=')) return { kind: 'version', value: rev.slice('version='.length) };
  if (isChecksum(rev)) return { kind: 'checksum', value: rev };
  if (/^[0-9a-f]{7,63}$/.test(rev)) return { kind: 'prefix', value: rev };
  // eslint-disable-next-line no-control-regex
  if (rev === '' || /[\x00-\x1f\x7f]/.test(rev)) {
    throw new AptOstreeError('unknown-revision', `'${printable(rev)}' is not a revision`,
      'give a commit checksum or a version, e.g. `apt-ostree deploy 13.2`');
  }
  return { kind: 'version', value: rev };
}

function matchIn(history: CommitInfo[], wanted: Wanted): string | undefined {
  const hits = history.filter((c) =>
    wanted.kind === 'version' ? c.version === wanted.value : c.checksum.startsWith(wanted.value));
  if (hits.length > 1) {
    throw new AptOstreeError('unknown-revision', `'${wanted.value}' matches ${hits.length} commits`, 'give the full checksum');
  }
  return hits[0]?.checksum;
}

function unknownRevision(rev: string, refspec: Refspec): AptOstreeError {
  return new AptOstreeError('unknown-revision', `no commit matches '${printable(rev)}' in ${formatRefspec(refspec)}`,
    'try `apt-ostree upgrade --check`, or list the history with `ostree log`');
}
