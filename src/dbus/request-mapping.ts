import type { DeploymentStatus, StatusReport } from '../core/ops/status.js';
import type { CachedUpdate } from '../core/cached-update.js';
import { AUTOMATIC_UPDATE_POLICIES } from '../core/config.js';
import type { Request, ResultOf } from '../core/requests.js';
import { AptOstreeError } from '../lib/errors.js';
import { BOOTCONFIG_DICT, decodeDeployment, encodeDeployment, encodeDict } from './contract.js';
import { BusError, STANDARD_ERRORS } from './errors.js';
import type { Typed } from './bus.js';
import { OS_INTERFACE, SYSROOT_INTERFACE, type InterfaceName } from './names.js';

/**
 * The one table between the typed request model (src/core/requests.ts) and the D-Bus contract: which call carries
 * each Request kind, and back. The client (src/cli/backend-dbus.ts) builds its calls with requestToCall and reads
 * direct answers with decodeReply; the daemon turns incoming calls into Requests with callToRequest and answers
 * direct calls with encodeReply, so both executors run the very same Request and print the very same result.
 *
 * Arguments are plain values: a{sv} arguments are plain objects with the contract's kebab-case keys (RemoteObject.call
 * types them from their schema; the daemon receives them checked as plain objects), `u`/`i` are numbers.
 */

/** How the daemon answers a call: a Transaction path (`o`), result JSON (`s`), a boot config a{sv}, or properties. */
export type ReplyKind = 'transaction' | 'result-json' | 'bootconfig' | 'properties';

export interface DbusCall {
  /** Which object receives it: the Sysroot object, or the OS object of the stateroot in use. */
  target: 'sysroot' | 'os';
  iface: InterfaceName;
  /** The method; for reply 'properties', empty (read `properties` of `iface` with GetAll instead). */
  member: string;
  args: unknown[];
  reply: ReplyKind;
  /** For reply 'properties': the properties the answer is built from. */
  properties?: readonly string[];
  /** For reply 'properties': more properties, of the OS object of the stateroot in use (read when it exists). */
  osProperties?: readonly string[];
}

/** Properties of the Sysroot object that answer a status request. */
export const STATUS_PROPERTIES = ['Deployments', 'ActiveTransaction'] as const;
/** …and of the OS object: the update the last check found. */
export const STATUS_OS_PROPERTIES = ['CachedUpdate'] as const;

type Opts = Record<string, unknown>;

/** Copies the defined values into an a{sv} object under their kebab-case keys. */
function opts(entries: Record<string, unknown>): Opts {
  const out: Opts = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out;
}

function invalid(message: string): BusError {
  return new BusError(STANDARD_ERRORS.invalidArgs, message);
}

function dictArg(args: readonly unknown[], i: number): Opts {
  const v = args[i];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`argument ${i}: expected a dictionary`);
  return v as Opts;
}
function strArg(args: readonly unknown[], i: number): string {
  const v = args[i];
  if (typeof v !== 'string') throw invalid(`argument ${i}: expected a string`);
  return v;
}
function strsArg(args: readonly unknown[], i: number): string[] {
  const v = args[i];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(`argument ${i}: expected an array of strings`);
  return v;
}
function numArg(args: readonly unknown[], i: number): number {
  const v = args[i];
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw invalid(`argument ${i}: expected an integer`);
  return n;
}
function boolArg(args: readonly unknown[], i: number): boolean {
  const v = args[i];
  if (typeof v !== 'boolean') throw invalid(`argument ${i}: expected a boolean`);
  return v;
}
const optStr = (o: Opts, k: string): string | undefined => (typeof o[k] === 'string' ? o[k] : undefined);
const optBool = (o: Opts, k: string): boolean | undefined => (typeof o[k] === 'boolean' ? o[k] : undefined);
const optStrs = (o: Opts, k: string): string[] | undefined =>
  (Array.isArray(o[k]) ? (o[k] as unknown[]).filter((x): x is string => typeof x === 'string') : undefined);
const optNum = (o: Opts, k: string): number | undefined => {
  const v = o[k];
  if (typeof v === 'bigint') return Number(v);
  return typeof v === 'number' ? v : undefined;
};
/** Empty string → undefined (the contract's "take the default"). */
const orUndef = (s: string): string | undefined => (s === '' ? undefined : s);

/** Drops undefined fields so a Request built from a call has only what the call said. */
function clean<T extends object>(r: T): T {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as T;
}

const CLEANUP_ELEMENTS = [
  ['pending', 'pending-deploy'], ['rollback', 'rollback-deploy'], ['base', 'base'], ['repomd', 'repomd'], ['prune', 'prune'],
] as const;

function os(member: string, args: unknown[], reply: ReplyKind = 'transaction'): DbusCall {
  return { target: 'os', iface: OS_INTERFACE, member, args, reply };
}

/** The D-Bus call that carries a request. */
export function requestToCall(req: Request): DbusCall {
  switch (req.kind) {
    case 'status':
      return { target: 'sysroot', iface: SYSROOT_INTERFACE, member: '', args: [], reply: 'properties', properties: STATUS_PROPERTIES,
        osProperties: STATUS_OS_PROPERTIES };
    case 'upgrade':
      return os('Upgrade', [opts({ 'allow-downgrade': req.allowDowngrade, check: req.check, preview: req.preview })]);
    case 'deploy':
      return os('Deploy', [req.revision, {}]);
    case 'rebase':
      return os('Rebase', [req.refspec, opts({ revision: req.revision })]);
    case 'rollback':
      return os('Rollback', [{}]);
    case 'kargs-show':
      return os('GetDeploymentBootConfig', [req.deployIndex ?? -1], 'bootconfig');
    case 'kargs':
      return os('KernelArgs', [req.append ?? [], req.replace ?? [], req.delete ?? [], opts({
        'append-if-missing': req.appendIfMissing, 'delete-if-present': req.deleteIfPresent, set: req.set,
        'deploy-index': req.deployIndex,
      })]);
    case 'cleanup':
      return os('Cleanup', [CLEANUP_ELEMENTS.filter(([k]) => req[k] === true).map(([, e]) => e), {}]);
    case 'pin':
      return os('Pin', [req.index, req.unpin, {}]);
    case 'db-list':
      return os('GetPackages', [req.revision ?? '', opts({ pattern: req.pattern })], 'result-json');
    case 'db-diff':
      return os('GetDeploymentsDiff', [req.from ?? '', req.to ?? ''], 'result-json');
    case 'db-version':
      return os('GetDbVersion', [req.revision ?? ''], 'result-json');
    case 'pkg-change':
      return os('PkgChange', [req.install ?? [], req.uninstall ?? [], opts({
        'uninstall-all': req.uninstallAll, 'dry-run': req.dryRun, idempotent: req.idempotent,
        'allow-inactive': req.allowInactive, cwd: req.cwd,
      })]);
    case 'override':
      return os('UpdateDeployment', [opts({
        'override-remove': req.remove, 'override-replace': req.replace, 'override-reset': req.reset,
        'override-reset-all': req.resetAll,
      }), opts({ 'dry-run': req.dryRun, cwd: req.cwd })]);
    case 'reset': {
      const m = opts({ 'reset-overlays': req.overlays, 'reset-overrides': req.overrides, 'reset-initramfs': req.initramfs });
      // A plain `reset` (no flag) still has to say it is a reset: all three keys, false.
      const modifiers = Object.keys(m).length > 0 ? m : { 'reset-overlays': false, 'reset-overrides': false, 'reset-initramfs': false };
      return os('UpdateDeployment', [modifiers, opts({ 'dry-run': req.dryRun })]);
    }
    case 'list':
      return os('ListPackages', [opts({ pattern: req.pattern, 'deploy-index': req.deployIndex })], 'result-json');
    case 'search':
      return os('Search', [req.terms], 'result-json');
    case 'refresh-md':
      return os('RefreshMd', [opts({ force: req.force })]);
    case 'initramfs':
      return os('SetInitramfsState', [req.regenerate, req.args ?? [], {}]);
    case 'usroverlay':
      return os('UsrOverlay', [opts({ hotfix: req.hotfix })]);
    case 'apply-live':
      return os('ApplyLive', [opts({ 'allow-replacement': req.allowReplacement })]);
    case 'automatic-update':
      return os('AutomaticUpdateTrigger', [opts({ mode: req.policy })]);
  }
}

const RESET_KEYS = ['reset-overlays', 'reset-overrides', 'reset-initramfs'];

/**
 * The request an incoming call asks for (the daemon's side). Methods of the contract that carry no request (Sysroot
 * methods, Transaction methods) throw; so do arguments the engine can not honour (InvalidArgs, or not-supported).
 */
export function callToRequest(iface: string, member: string, args: readonly unknown[]): Request {
  if (iface !== OS_INTERFACE) throw invalid(`${iface}.${member} carries no request`);
  switch (member) {
    case 'Upgrade': {
      const o = dictArg(args, 0);
      return clean({ kind: 'upgrade', allowDowngrade: optBool(o, 'allow-downgrade'), check: optBool(o, 'check'), preview: optBool(o, 'preview') });
    }
    case 'Deploy':
      return { kind: 'deploy', revision: strArg(args, 0) };
    case 'Rebase':
      return clean({ kind: 'rebase', refspec: strArg(args, 0), revision: optStr(dictArg(args, 1), 'revision') });
    case 'Rollback':
      return { kind: 'rollback' };
    case 'GetDeploymentBootConfig': {
      const i = numArg(args, 0);
      return clean({ kind: 'kargs-show', deployIndex: i < 0 ? undefined : i });
    }
    case 'KernelArgs': {
      const o = dictArg(args, 3);
      const append = strsArg(args, 0);
      const replace = strsArg(args, 1);
      const del = strsArg(args, 2);
      return clean({
        kind: 'kargs',
        append: append.length > 0 ? append : undefined,
        replace: replace.length > 0 ? replace : undefined,
        delete: del.length > 0 ? del : undefined,
        appendIfMissing: optStrs(o, 'append-if-missing'),
        deleteIfPresent: optStrs(o, 'delete-if-present'),
        set: optStrs(o, 'set'),
        deployIndex: optNum(o, 'deploy-index'),
      });
    }
    case 'Cleanup': {
      const elements = strsArg(args, 0);
      const req: Request = { kind: 'cleanup' };
      for (const e of elements) {
        const found = CLEANUP_ELEMENTS.find(([, name]) => name === e);
        if (!found) throw invalid(`unknown cleanup element "${e}" (known: ${CLEANUP_ELEMENTS.map(([, n]) => n).join(', ')})`);
        req[found[0]] = true;
      }
      return req;
    }
    case 'Pin':
      return { kind: 'pin', index: numArg(args, 0), unpin: boolArg(args, 1) };
    case 'GetPackages':
      return clean({ kind: 'db-list', revision: orUndef(strArg(args, 0)), pattern: optStr(dictArg(args, 1), 'pattern') });
    case 'GetDeploymentsDiff':
      return clean({ kind: 'db-diff', from: orUndef(strArg(args, 0)), to: orUndef(strArg(args, 1)) });
    case 'GetDbVersion':
      return clean({ kind: 'db-version', revision: orUndef(strArg(args, 0)) });
    case 'PkgChange': {
      const o = dictArg(args, 2);
      const install = strsArg(args, 0);
      const uninstall = strsArg(args, 1);
      return clean({
        kind: 'pkg-change',
        install: install.length > 0 ? install : undefined,
        uninstall: uninstall.length > 0 ? uninstall : undefined,
        uninstallAll: optBool(o, 'uninstall-all'), dryRun: optBool(o, 'dry-run'), idempotent: optBool(o, 'idempotent'),
        allowInactive: optBool(o, 'allow-inactive'), cwd: optStr(o, 'cwd'),
      });
    }
    case 'UpdateDeployment': {
      const m = dictArg(args, 0);
      const o = dictArg(args, 1);
      const isReset = RESET_KEYS.some((k) => k in m);
      const isOverride = Object.keys(m).some((k) => k.startsWith('override-'));
      if (isReset && isOverride) throw invalid('UpdateDeployment: override-* and reset-* modifiers can not be combined');
      if (isReset) {
        return clean({
          kind: 'reset',
          overlays: optBool(m, 'reset-overlays') === true ? true : undefined,
          overrides: optBool(m, 'reset-overrides') === true ? true : undefined,
          initramfs: optBool(m, 'reset-initramfs') === true ? true : undefined,
          dryRun: optBool(o, 'dry-run'),
        });
      }
      return clean({
        kind: 'override',
        remove: optStrs(m, 'override-remove'), replace: optStrs(m, 'override-replace'), reset: optStrs(m, 'override-reset'),
        resetAll: optBool(m, 'override-reset-all'), dryRun: optBool(o, 'dry-run'), cwd: optStr(o, 'cwd'),
      });
    }
    case 'SetInitramfsState': {
      const extra = strsArg(args, 1);
      return clean({ kind: 'initramfs', regenerate: boolArg(args, 0), args: extra.length > 0 ? extra : undefined });
    }
    case 'UsrOverlay':
      return clean({ kind: 'usroverlay', hotfix: optBool(dictArg(args, 0), 'hotfix') });
    case 'ApplyLive':
      return clean({ kind: 'apply-live', allowReplacement: optBool(dictArg(args, 0), 'allow-replacement') });
    case 'AutomaticUpdateTrigger': {
      const mode = optStr(dictArg(args, 0), 'mode');
      const policy = AUTOMATIC_UPDATE_POLICIES.find((p) => p === mode);
      if (mode !== undefined && policy === undefined) {
        throw invalid(`AutomaticUpdateTrigger: mode must be one of ${AUTOMATIC_UPDATE_POLICIES.join(', ')}, not "${mode}"`);
      }
      return clean({ kind: 'automatic-update', policy });
    }
    case 'ListPackages': {
      const o = dictArg(args, 0);
      return clean({ kind: 'list', pattern: optStr(o, 'pattern'), deployIndex: optNum(o, 'deploy-index') });
    }
    case 'Search':
      return { kind: 'search', terms: strsArg(args, 0) };
    case 'RefreshMd':
      return { kind: 'refresh-md', force: optBool(dictArg(args, 0), 'force') ?? false };
    default:
      throw invalid(`${iface}.${member} carries no request`);
  }
}

/** Whether the OS method answers with a Transaction path (true) or directly. */
export function startsTransaction(member: string): boolean {
  return TRANSACTION_METHODS.has(member);
}

export const TRANSACTION_METHODS: ReadonlySet<string> = new Set([
  'Upgrade', 'Deploy', 'Rebase', 'Rollback', 'PkgChange', 'UpdateDeployment', 'KernelArgs', 'SetInitramfsState', 'Cleanup',
  'RefreshMd', 'Pin', 'UsrOverlay', 'ApplyLive', 'AutomaticUpdateTrigger',
]);

/** The same key for identical requests (a second identical request joins the running transaction). */
export function requestKey(req: Request): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, sort(x)]));
    }
    return v;
  };
  return JSON.stringify(sort(req));
}

const words = (xs: readonly string[] | undefined, prefix = ''): string[] => (xs ?? []).map((x) => `${prefix}${x}`);

/** What the request does, as an apt-ostree command line (the Transaction's Title). */
export function titleOf(req: Request): string {
  const parts: string[] = (() => {
    switch (req.kind) {
      case 'status': return ['status'];
      case 'upgrade': return ['upgrade', ...(req.check ? ['--check'] : []), ...(req.preview ? ['--preview'] : []),
        ...(req.allowDowngrade ? ['--allow-downgrade'] : [])];
      case 'deploy': return ['deploy', req.revision];
      case 'rebase': return ['rebase', req.refspec, ...(req.revision ? [req.revision] : [])];
      case 'rollback': return ['rollback'];
      case 'kargs-show': return ['kargs'];
      case 'kargs': return ['kargs', ...words(req.append, '--append='), ...words(req.replace, '--replace='),
        ...words(req.delete, '--delete='), ...words(req.appendIfMissing, '--append-if-missing='),
        ...words(req.deleteIfPresent, '--delete-if-present='), ...(req.set ? ['--editor'] : [])];
      case 'cleanup': return ['cleanup', ...CLEANUP_ELEMENTS.filter(([k]) => req[k] === true).map(([, e]) => e)];
      case 'pin': return [req.unpin ? 'unpin' : 'pin', String(req.index)];
      case 'db-list': return ['db', 'list'];
      case 'db-diff': return ['db', 'diff'];
      case 'db-version': return ['db', 'version'];
      case 'pkg-change': {
        if ((req.install ?? []).length > 0 && (req.uninstall ?? []).length === 0) return ['install', ...words(req.install)];
        if ((req.install ?? []).length === 0 && ((req.uninstall ?? []).length > 0 || req.uninstallAll)) {
          return ['uninstall', ...(req.uninstallAll ? ['--all'] : []), ...words(req.uninstall)];
        }
        return ['install', ...words(req.install), ...words(req.uninstall, '--uninstall=')];
      }
      case 'override': return ['override', ...words(req.remove, 'remove '), ...words(req.replace, 'replace '),
        ...words(req.reset, 'reset '), ...(req.resetAll ? ['reset --all'] : [])];
      case 'reset': return ['reset', ...(req.overlays ? ['--overlays'] : []), ...(req.overrides ? ['--overrides'] : []),
        ...(req.initramfs ? ['--initramfs'] : [])];
      case 'list': return ['list'];
      case 'search': return ['search', ...req.terms];
      case 'refresh-md': return ['refresh-md', ...(req.force ? ['--force'] : [])];
      case 'initramfs': return ['initramfs', req.regenerate ? '--enable' : '--disable', ...words(req.args, '--arg=')];
      case 'usroverlay': return ['usroverlay', ...(req.hotfix ? ['--hotfix'] : [])];
      case 'apply-live': return ['apply-live', ...(req.allowReplacement ? ['--allow-replacement'] : [])];
      case 'automatic-update': return ['upgrade', '--trigger-automatic-update-policy', ...(req.policy ? [`(${req.policy})`] : [])];
    }
  })();
  const dry = 'dryRun' in req && req.dryRun === true ? ['--dry-run'] : [];
  return [...parts, ...dry].join(' ');
}

// ---------------------------------------------------------------------------------------------------------------
// Direct answers: the daemon encodes the engine's result, the client decodes it back to the same value.

/** The daemon's reply to a direct call: the out arguments of the method. */
export function encodeReply(req: Request, result: unknown): unknown {
  if (req.kind === 'kargs-show') return encodeDict(BOOTCONFIG_DICT, { kargs: result });
  return JSON.stringify(result);
}

/** The deployment list of the Deployments property, as a{sv}s (what the Sysroot object serves). */
export function encodeDeployments(ds: readonly DeploymentStatus[]): Record<string, Typed>[] {
  return ds.map(encodeDeployment);
}

/**
 * A direct answer back to the engine's result type (the client's side). `reply` is the method's first out
 * argument, or for 'properties' the GetAll dictionary. For status, `osname` filters like the engine does.
 */
export function decodeReply<K extends Request['kind']>(request: Extract<Request, { kind: K }>, reply: unknown,
  ctx: { osname?: string | undefined } = {}): ResultOf[K] {
  const req = request as Request;
  switch (req.kind) {
    case 'status': {
      const props = (typeof reply === 'object' && reply !== null ? reply : {}) as Record<string, unknown>;
      const raw = Array.isArray(props.Deployments) ? props.Deployments as unknown[] : [];
      let deployments = raw.map(decodeDeployment).filter((d): d is DeploymentStatus => d !== undefined);
      if (ctx.osname !== undefined) deployments = deployments.filter((d) => d.osname === ctx.osname);
      if (req.booted === true) deployments = deployments.filter((d) => d.booted);
      const active = Array.isArray(props.ActiveTransaction) ? props.ActiveTransaction as unknown[] : [];
      const [title, initiator] = active;
      const transaction = typeof title === 'string' && title !== '' ? { title, initiator: typeof initiator === 'string' ? initiator : '' } : null;
      const report: StatusReport = { deployments, transaction, 'cached-update': decodeCachedUpdate(props.CachedUpdate) };
      return report as ResultOf[K];
    }
    case 'kargs-show': {
      const dict = (typeof reply === 'object' && reply !== null ? reply : {}) as Record<string, unknown>;
      const kargs = Array.isArray(dict.kargs) ? dict.kargs.filter((x): x is string => typeof x === 'string') : [];
      return kargs as ResultOf[K];
    }
    default:
      if (typeof reply !== 'string') throw new AptOstreeError('internal', `apt-ostreed answered ${req.kind} without result JSON`);
      return JSON.parse(reply) as ResultOf[K];
  }
}

/** The OS object's CachedUpdate a{sv} (result_json: the `cached-update` of status --json) back to its value. */
export function decodeCachedUpdate(value: unknown): CachedUpdate | null {
  const dict = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof dict.result_json !== 'string') return null;
  try {
    return JSON.parse(dict.result_json) as CachedUpdate;
  } catch {
    return null;
  }
}

/** A transaction's result_json (Outcome) back to the engine's result type. */
export function decodeResultJson<K extends Request['kind']>(_req: Extract<Request, { kind: K }>, json: string): ResultOf[K] {
  return JSON.parse(json) as ResultOf[K];
}
