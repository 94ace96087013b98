/**
 * The D-Bus executor: the client side of apt-ostreed. It connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS
 * honoured), registers as a client, refuses a daemon that serves another sysroot than the one asked for, sends each
 * request as the call request-mapping.ts names, and for transactions subscribes to the Transaction's signals before
 * Start, renders them through the ProgressSink, and waits for Finished. The AbortSignal (Ctrl-C) cancels the
 * transaction; the answer (or the error) is the one the in-process executor would have given.
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ProgressSink } from '../core/progress.js';
import type { Request, RequestOf, ResultOf } from '../core/requests.js';
import { connectBus, type Bus, type Subscription } from '../dbus/bus.js';
import { RemoteObject } from '../dbus/contract.js';
import { BusError, DAEMON_LOG_HINT, fromBusError, isDaemonUnreachable, isErrorCode, isNoAnswer,
  splitErrorText } from '../dbus/errors.js';
import { BUS_NAME, NO_OBJECT, OS_INTERFACE, SYSROOT_INTERFACE, SYSROOT_PATH, TRANSACTION_INTERFACE } from '../dbus/names.js';
import { AptOstreeError } from '../lib/errors.js';
import { VERSION } from '../version.js';
import type { Backend, Target } from './backend.js';
import { decodeReply, requestToCall } from '../dbus/request-mapping.js';

/** The sysroot as the daemon would name it: absolute, symlinks resolved (when it exists). */
export async function canonicalSysroot(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    return abs;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** The running transaction as ActiveTransaction gives it; undefined when there is none. */
export interface ActiveTransaction {
  title: string;
  initiator: string;
  path: string;
}

export function decodeActiveTransaction(value: unknown): ActiveTransaction | undefined {
  const [title, initiator, path] = Array.isArray(value) ? value as unknown[] : [];
  const p = str(path);
  if (p === '' || p === NO_OBJECT) return undefined;
  return { title: str(title), initiator: str(initiator), path: p };
}

/** The line on stderr while the client waits for a slow apt-ostreed to start. */
export const WAITING_NOTICE = 'Waiting for apt-ostreed to start…';

/** How long the client waits for apt-ostreed once the bus gave up starting it, unless the environment says. */
export const DEFAULT_START_WAIT_MS = 120_000;

/**
 * APT_OSTREE_DAEMON_START_TIMEOUT: seconds the client keeps waiting for apt-ostreed after the bus gave up starting it
 * (default 120); 0 gives up at once.
 */
export function startWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.APT_OSTREE_DAEMON_START_TIMEOUT?.trim();
  if (!text) return DEFAULT_START_WAIT_MS;
  const seconds = Number(text);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_START_WAIT_MS;
}

export interface ConnectOptions {
  /** For connecting to the bus. */
  timeoutMs?: number;
  /** How long to keep waiting when the bus gives up starting apt-ostreed (default: startWaitMs()). */
  startWaitMs?: number;
  /** Where WAITING_NOTICE goes (stderr). */
  notice?: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A registered connection to apt-ostreed serving the sysroot asked for. */
export class DaemonClient {
  readonly sysroot: RemoteObject;
  private osObject: RemoteObject | undefined;
  private closed = false;

  private constructor(readonly bus: Bus, readonly target: Target) {
    this.sysroot = new RemoteObject(bus, SYSROOT_PATH, SYSROOT_INTERFACE);
  }

  /**
   * Connects and registers. Fails with a BusError for which isDaemonUnreachable holds when there is no bus or no
   * daemon (the caller may fall back), with AptOstreeError `daemon-unavailable` when apt-ostreed is activatable but
   * did not start in time (the caller may fall back too: nothing reached the daemon), and with another
   * AptOstreeError otherwise (e.g. the daemon serves another sysroot).
   */
  static async connect(target: Target, opts: ConnectOptions = {}): Promise<DaemonClient> {
    const bus = await connectBus('system', { timeoutMs: opts.timeoutMs ?? 5000 });
    const client = new DaemonClient(bus, target);
    try {
      if (!(await bus.isReachable(BUS_NAME))) {
        throw new BusError('org.freedesktop.DBus.Error.ServiceUnknown', `${BUS_NAME} is neither running nor activatable`);
      }
      // Reading Path first activates the daemon when it is not running.
      const served = await client.servedPath(opts);
      const [asked, daemonRoot] = await Promise.all([canonicalSysroot(target.sysroot), canonicalSysroot(served)]);
      if (asked !== daemonRoot) {
        throw new AptOstreeError('invalid-argument',
          `apt-ostreed serves the sysroot ${served}, not ${asked}; refusing to operate on another sysroot`,
          `run as root with --no-daemon to work on ${asked} directly, or start apt-ostreed with --sysroot ${asked}`);
      }
      await client.sysroot.call('RegisterClient', [{ id: `apt-ostree ${VERSION} (pid ${process.pid})` }]);
      return client;
    } catch (err) {
      await bus.close().catch(() => undefined);
      throw err instanceof BusError && !isDaemonUnreachable(err) ? fromBusError(err) : err;
    }
  }

  /**
   * The daemon's Path property: the first call, which has the bus start (activate) apt-ostreed when it is not
   * running. dbus-daemon gives a service 25 s (service_start_timeout) to take its name, short for a Node program on a
   * slow machine; it then answers TimedOut, the call having reached nobody, while systemd goes on starting the unit.
   * So on no answer the read is repeated until the name's owner answers, for at most startWaitMs in all, with one
   * line on stderr meanwhile: each try reaches the daemon once it owns the name, or asks the bus to start it again
   * (systemd joins that to the start job under way; a bus that spawns services itself tries anew). A read is safe to
   * repeat. An activation that fails outright (the unit failed, the program exited) ends the wait at once.
   */
  private async servedPath(opts: ConnectOptions): Promise<string> {
    try {
      return str(await this.sysroot.get('Path'));
    } catch (err) {
      if (!isNoAnswer(err)) throw err;
      return this.waitForStart(err, opts);
    }
  }

  private async waitForStart(first: unknown, opts: ConnectOptions): Promise<string> {
    const waitMs = opts.startWaitMs ?? startWaitMs();
    const deadline = Date.now() + waitMs;
    let last = first;
    if (waitMs > 0) (opts.notice ?? ((line: string) => { process.stderr.write(`${line}\n`); }))(WAITING_NOTICE);
    for (let left = waitMs; left > 0; left = deadline - Date.now()) {
      try {
        return str(await this.sysroot.get('Path', { timeoutMs: left }));
      } catch (err) {
        last = err;
        if (isDaemonUnreachable(err)) break;
        if (!isNoAnswer(err)) throw err;
      }
      // The bus may answer at once again: do not spin.
      await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
    }
    const text = (e: unknown): string => (e instanceof Error ? e.message : String(e));
    const message = isNoAnswer(last)
      ? `apt-ostreed did not start: no answer ${Math.round(waitMs / 1000)} s after the bus gave up (${text(first)})`
      : `apt-ostreed did not start: ${text(last)}`;
    throw new AptOstreeError('daemon-unavailable', message, DAEMON_LOG_HINT, { cause: last });
  }

  /** The OS object of the stateroot asked for (--os), or the booted/default one. */
  async os(): Promise<RemoteObject> {
    if (!this.osObject) {
      const [path] = await this.sysroot.call('GetOS', [this.target.osname ?? '']);
      this.osObject = new RemoteObject(this.bus, str(path), OS_INTERFACE);
    }
    return this.osObject;
  }

  transaction(path: string): RemoteObject {
    return new RemoteObject(this.bus, path, TRANSACTION_INTERFACE);
  }

  async activeTransaction(): Promise<ActiveTransaction | undefined> {
    return decodeActiveTransaction(await this.sysroot.get('ActiveTransaction'));
  }

  /**
   * Runs the transaction at this path: subscribes to its signals, calls Start (a joined transaction is followed
   * just the same), renders the progress, cancels it when the signal aborts, and resolves with Outcome's
   * result_json parsed, or rejects with the AptOstreeError of the failure.
   */
  async runTransaction(path: string, progress: ProgressSink, signal?: AbortSignal): Promise<unknown> {
    const tx = this.transaction(path);
    const subs: Subscription[] = [];
    let settle: ((finished: { success: boolean; code: string; message: string }) => void) | undefined;
    let fail: ((err: Error) => void) | undefined;
    const finished = new Promise<{ success: boolean; code: string; message: string }>((res, rej) => {
      settle = res;
      fail = rej;
    });
    finished.catch(() => undefined);
    const onAbort = (): void => {
      progress.message('Cancelling the transaction…');
      tx.call('Cancel', []).catch((err: unknown) => {
        progress.message(`cancel failed: ${fromBusError(err).message}`);
      });
    };
    const removeClose = this.bus.onClose(() => {
      fail?.(new AptOstreeError('internal', 'the D-Bus connection to apt-ostreed closed during the transaction',
        'see `apt-ostree status`; the transaction may have finished or been cancelled'));
    });
    try {
      subs.push(await tx.onSignal((member, args) => {
        switch (member) {
          case 'Message': progress.message(str(args[0])); break;
          case 'TaskBegin': progress.taskBegin(str(args[0])); break;
          case 'TaskEnd': progress.taskEnd(str(args[0])); break;
          case 'PercentProgress': progress.percent(str(args[0]), num(args[1])); break;
          case 'DownloadProgress':
            progress.download({ title: str(args[0]), bytesDone: num(args[1]), bytesTotal: num(args[2]), rate: num(args[3]) });
            break;
          case 'Finished':
            settle?.({ success: args[0] === true, code: str(args[1]), message: str(args[2]) });
            break;
          default: break;
        }
      }));
      subs.push(await this.bus.watchNameOwner(BUS_NAME, (owner) => {
        if (owner === '') {
          fail?.(new AptOstreeError('internal', 'apt-ostreed left the bus during the transaction',
            'see `apt-ostree status` and the daemon\'s log (journalctl -u apt-ostreed)'));
        }
      }));
      if (signal?.aborted) throw new AptOstreeError('cancelled', 'cancelled before the transaction started');
      signal?.addEventListener('abort', onAbort, { once: true });
      const [started] = await tx.call('Start', []);
      if (started !== true) {
        // Joined a running transaction, or it finished already: Outcome says which.
        const outcome = (await tx.get('Outcome')) as Record<string, unknown>;
        if (Object.keys(outcome).length > 0) return this.outcome(outcome, undefined);
        progress.message(`Joined the running transaction: ${str(await tx.get('Title'))}`);
      }
      const f = await finished;
      const outcome = (await tx.get('Outcome').catch(() => ({}))) as Record<string, unknown>;
      return this.outcome(outcome, f);
    } catch (err) {
      throw fromBusError(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      removeClose();
      for (const s of subs) await s.remove().catch(() => undefined);
    }
  }

  private outcome(o: Record<string, unknown>, f: { success: boolean; code: string; message: string } | undefined): unknown {
    const success = typeof o.success === 'boolean' ? o.success : (f?.success ?? false);
    if (success) {
      const json = str(o.result_json);
      return json === '' ? null : JSON.parse(json) as unknown;
    }
    const codeText = str(o['error-code']) || (f?.code ?? '');
    const code = isErrorCode(codeText) ? codeText : 'internal';
    if (typeof o['error-message'] === 'string') {
      const hint = str(o['error-hint']);
      throw new AptOstreeError(code, o['error-message'], hint === '' ? undefined : hint);
    }
    const { message, hint } = splitErrorText(f?.message ?? 'the transaction failed');
    throw new AptOstreeError(code, message, hint);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.bus.isClosed) {
      await this.sysroot.call('UnregisterClient', [{}], { timeoutMs: 2000 }).catch(() => undefined);
      await this.bus.close().catch(() => undefined);
    }
  }
}

/** The Backend that sends requests to apt-ostreed. */
export class DaemonBackend implements Backend {
  readonly name = 'daemon';

  constructor(readonly client: DaemonClient) {}

  async run<K extends Request['kind']>(req: RequestOf<K>, progress: ProgressSink, signal: AbortSignal): Promise<ResultOf[K]> {
    try {
      return await runRequest(this.client, req, progress, signal);
    } catch (err) {
      throw fromBusError(err);
    } finally {
      await this.client.close();
    }
  }
}

/** Sends one request as request-mapping.ts says: a property read, a direct call, or a transaction. */
export async function runRequest<K extends Request['kind']>(client: DaemonClient, req: RequestOf<K>, progress: ProgressSink,
  signal: AbortSignal): Promise<ResultOf[K]> {
  const call = requestToCall(req);
  const target = call.target === 'sysroot' ? client.sysroot : await client.os();
  const ctx = { osname: client.target.osname };
  switch (call.reply) {
    case 'properties': {
      const all = await target.getAll({ signal });
      const wanted = call.properties ?? Object.keys(all);
      const props: Record<string, unknown> = Object.fromEntries(wanted.map((k) => [k, all[k]]));
      if (call.osProperties !== undefined) {
        // A sysroot without a stateroot to show has no OS object: its properties are simply absent then.
        const os = await client.os().then((o) => o.getAll({ signal })).catch((): Record<string, unknown> => ({}));
        for (const k of call.osProperties) props[k] = os[k];
      }
      return decodeReply(req, props, ctx);
    }
    case 'result-json':
    case 'bootconfig': {
      const [reply] = await target.call(call.member, call.args, { signal });
      return decodeReply(req, reply, ctx);
    }
    case 'transaction': {
      const [path] = await target.call(call.member, call.args, { signal });
      return await client.runTransaction(str(path), progress, signal) as ResultOf[K];
    }
  }
}
