import { cleanup } from './ops/cleanup.js';
import type { EngineOptions } from './ops/context.js';
import { dbDiff, dbList, dbVersion } from './ops/db.js';
import { deploy, rebase } from './ops/deploy.js';
import { changeKargs, showKargs } from './ops/kargs.js';
import { pin } from './ops/pin.js';
import { rollback } from './ops/rollback.js';
import { status } from './ops/status.js';
import { upgrade } from './ops/upgrade.js';
import type { Request, RequestOf, ResultOf } from './requests.js';
import { override, pkgChange, reset, setInitramfs } from './ops/pkg/pkg-change.js';
import { applyLive } from './ops/apply-live.js';
import { automaticUpdate } from './ops/automatic-update.js';
import { usrOverlay } from './ops/usroverlay.js';
import { listPackages, refreshMd, search } from './ops/pkg/query.js';

export type { EngineOptions } from './ops/context.js';

type Handlers = { [K in Request['kind']]: (opts: EngineOptions, req: RequestOf<K>) => Promise<ResultOf[K]> };

const handlers: Handlers = {
  status: (o, r) => status(o, r.booted ?? false),
  upgrade: (o, r) => upgrade(o, r),
  deploy: (o, r) => deploy(o, r),
  rebase: (o, r) => rebase(o, r),
  rollback: (o) => rollback(o),
  'kargs-show': (o, r) => showKargs(o, r.deployIndex),
  kargs: (o, r) => changeKargs(o, r),
  cleanup: (o, r) => cleanup(o, r),
  pin: async (o, r) => { await pin(o, r.index, r.unpin); return null; },
  'db-list': (o, r) => dbList(o, r.revision, r.pattern),
  'db-diff': (o, r) => dbDiff(o, r.from, r.to),
  'db-version': (o, r) => dbVersion(o, r.revision),
  'pkg-change': (o, r) => pkgChange(o, r),
  override: (o, r) => override(o, r),
  reset: (o, r) => reset(o, r),
  list: (o, r) => listPackages(o, r.pattern, r.deployIndex),
  search: (o, r) => search(o, r.terms),
  'refresh-md': (o, r) => refreshMd(o, r.force),
  initramfs: (o, r) => setInitramfs(o, r),
  usroverlay: (o, r) => usrOverlay(o, r),
  'apply-live': (o, r) => applyLive(o, r),
  'automatic-update': (o, r) => automaticUpdate(o, r),
};

/** Executes a request in this process: what the daemon hosts, and what the client falls back to. */
export function execute<K extends Request['kind']>(opts: EngineOptions, req: RequestOf<K>): Promise<ResultOf[K]> {
  const handler = handlers[req.kind] as (opts: EngineOptions, req: RequestOf<K>) => Promise<ResultOf[K]>;
  return handler(opts, req);
}
