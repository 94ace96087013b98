import type { CleanupRequest, CleanupResult } from './ops/cleanup.js';
import type { DbDiffResult, DbListResult, DbVersionResult } from './ops/db.js';
import type { DeployRequest, RebaseRequest } from './ops/deploy.js';
import type { KargsRequest, KargsResult } from './ops/kargs.js';
import type { RollbackResult } from './ops/rollback.js';
import type { StatusReport } from './ops/status.js';
import type { UpdateSummary, UpgradeRequest } from './ops/upgrade.js';
import type { PkgChangeResult } from './ops/pkg/deploy-layered.js';
import type { InitramfsRequest, OverrideRequest, PkgChangeRequest, ResetRequest } from './ops/pkg/pkg-change.js';
import type { ApplyLiveRequest, ApplyLiveResult } from './ops/apply-live.js';
import type { AutomaticUpdateRequest, AutomaticUpdateResult } from './ops/automatic-update.js';
import type { UsrOverlayRequest, UsrOverlayResult } from './ops/usroverlay.js';
import type { ListResult } from './ops/pkg/query.js';
import type { PackageSummary } from './apt/search.js';
import type { RefreshResult } from './apt/update.js';

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
  | { kind: 'db-version'; revision?: string | undefined }
  | ({ kind: 'pkg-change' } & PkgChangeRequest)
  | ({ kind: 'override' } & OverrideRequest)
  | ({ kind: 'reset' } & ResetRequest)
  | { kind: 'list'; pattern?: string | undefined; deployIndex?: number | undefined }
  | { kind: 'search'; terms: string[] }
  | { kind: 'refresh-md'; force: boolean }
  | ({ kind: 'initramfs' } & InitramfsRequest)
  | ({ kind: 'usroverlay' } & UsrOverlayRequest)
  | ({ kind: 'apply-live' } & ApplyLiveRequest)
  | ({ kind: 'automatic-update' } & AutomaticUpdateRequest);

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
  'pkg-change': PkgChangeResult;
  override: PkgChangeResult;
  reset: PkgChangeResult;
  list: ListResult;
  search: PackageSummary[];
  'refresh-md': RefreshResult;
  initramfs: PkgChangeResult;
  usroverlay: UsrOverlayResult;
  'apply-live': ApplyLiveResult;
  'automatic-update': AutomaticUpdateResult;
}

export type RequestOf<K extends Request['kind']> = Extract<Request, { kind: K }>;

/** Requests that change the system: they need root (or polkit) and take the sysroot lock. */
export function isMutating(r: Request): boolean {
  switch (r.kind) {
    case 'status': case 'kargs-show': case 'db-list': case 'db-diff': case 'db-version': case 'list': case 'search':
      return false;
    case 'upgrade': return !(r.check ?? false) && !(r.preview ?? false);
    case 'pkg-change': case 'override': case 'reset': return !(r.dryRun ?? false);
    default: return true;
  }
}
