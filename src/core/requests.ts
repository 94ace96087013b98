import type { CleanupRequest, CleanupResult } from './ops/cleanup.js';
import type { DbDiffResult, DbListResult, DbVersionResult } from './ops/db.js';
import type { DeployRequest, RebaseRequest } from './ops/deploy.js';
import type { KargsRequest, KargsResult } from './ops/kargs.js';
import type { RollbackResult } from './ops/rollback.js';
import type { StatusReport } from './ops/status.js';
import type { UpdateSummary, UpgradeRequest } from './ops/upgrade.js';

/**
 * The one typed request model. The CLI builds these, a Backend carries them (in-process, or over D-Bus to
 * apt-ostreed), and the engine executes them. Each kind maps to its result type below.
 */
export type Request =
  | { kind: 'status'; booted?: boolean }
  | ({ kind: 'upgrade' } & UpgradeRequest)
  | ({ kind: 'deploy' } & DeployRequest)
  | ({ kind: 'rebase' } & RebaseRequest)
  | { kind: 'rollback' }
  | { kind: 'kargs-show'; deployIndex?: number | undefined }
  | ({ kind: 'kargs' } & KargsRequest)
  | ({ kind: 'cleanup' } & CleanupRequest)
  | { kind: 'pin'; index: number; unpin: boolean }
  | { kind: 'db-list'; revision?: string | undefined; pattern?: string | undefined }
  | { kind: 'db-diff'; from?: string | undefined; to?: string | undefined }
  | { kind: 'db-version'; revision?: string | undefined };

export interface ResultOf {
  status: StatusReport;
  upgrade: UpdateSummary;
  deploy: UpdateSummary;
  rebase: UpdateSummary;
  rollback: RollbackResult;
  'kargs-show': string[];
  kargs: KargsResult;
  cleanup: CleanupResult;
  pin: null;
  'db-list': DbListResult;
  'db-diff': DbDiffResult;
  'db-version': DbVersionResult;
}

export type RequestOf<K extends Request['kind']> = Extract<Request, { kind: K }>;

/** Requests that change the system: they need root (or polkit) and take the sysroot lock. */
export function isMutating(r: Request): boolean {
  switch (r.kind) {
    case 'status': case 'kargs-show': case 'db-list': case 'db-diff': case 'db-version': return false;
    case 'upgrade': return !(r.check ?? false) && !(r.preview ?? false);
    default: return true;
  }
}
