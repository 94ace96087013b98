import type { Bus, CallContext, ExportedInterface } from '../dbus/bus.js';
import { OUTCOME_DICT, PROGRESS_DICT, encodeDict, implementInterface } from '../dbus/contract.js';
import { accessDenied, errorText } from '../dbus/errors.js';
import { TRANSACTION_INTERFACE, transactionPath } from '../dbus/names.js';
import { execute } from '../core/engine.js';
import type { ProgressSink } from '../core/progress.js';
import type { Request } from '../core/requests.js';
import { AptOstreeError, toAptOstreeError } from '../lib/errors.js';
import type { Authorizer } from './authorization.js';
import { log } from './log.js';

export type TransactionState = 'waiting' | 'running' | 'cancelling' | 'finished';

export interface Outcome {
  success: boolean;
  errorCode: string;
  errorMessage: string;
  errorHint: string | undefined;
  resultJson: string | undefined;
  result: unknown;
}

export interface TransactionInit {
  bus: Bus;
  authorizer: Authorizer;
  number: number;
  request: Request;
  /** requestKey of the request with its stateroot: identical requests join. */
  key: string;
  title: string;
  /** "client id (uid N)". */
  initiator: string;
  /** Unique bus name of the initiating connection. */
  initiatorName: string;
  sysroot: string;
  osname: string;
  /** Awaited once before Finished is emitted (the daemon re-reads the sysroot, so properties are current). */
  beforeFinished(tx: Transaction, outcome: Outcome): Promise<void>;
  /** Called once, after Finished was emitted. */
  onFinished(tx: Transaction): void;
}

/** How often Progress changes are announced at most. */
const PROGRESS_INTERVAL_MS = 250;

/**
 * One operation on the bus: created waiting, run by Start (the engine, in this process, with a ProgressSink that
 * turns into signals), ended by the engine's result or error, or by Cancel (the AbortSignal stops the engine and
 * the processes it runs).
 */
export class Transaction {
  readonly path: string;
  state: TransactionState = 'waiting';
  outcome: Outcome | undefined;
  /** Connections that may Start it: the initiator and those whose identical request joined it. */
  readonly participants = new Set<string>();
  private readonly controller = new AbortController();
  private progress: Record<string, unknown> = {};
  private progressTimer: NodeJS.Timeout | undefined;
  private exported: ExportedInterface | undefined;
  private running: Promise<void> | undefined;

  constructor(readonly init: TransactionInit) {
    this.path = transactionPath(init.number);
    this.participants.add(init.initiatorName);
  }

  get title(): string { return this.init.title; }
  get initiator(): string { return this.init.initiator; }
  get key(): string { return this.init.key; }
  get request(): Request { return this.init.request; }

  export(): void {
    this.exported = this.init.bus.exportInterface(this.path, implementInterface(TRANSACTION_INTERFACE, {
      methods: {
        Start: (_args, call) => this.onStart(call),
        Cancel: async (args, call) => {
          await this.init.authorizer.authorize(call, args, { initiator: this.participants.has(call.sender) });
          this.cancel(`cancelled by ${call.sender} (uid ${call.uid})`);
        },
      },
      properties: {
        Title: () => this.title,
        Initiator: () => this.initiator,
        Progress: () => encodeDict(PROGRESS_DICT, this.progress),
        State: () => this.state,
        Outcome: () => (this.outcome ? encodeDict(OUTCOME_DICT, {
          success: this.outcome.success,
          'error-code': this.outcome.success ? undefined : this.outcome.errorCode,
          'error-message': this.outcome.success ? undefined : this.outcome.errorMessage,
          'error-hint': this.outcome.errorHint,
          result_json: this.outcome.resultJson,
        }) : {}),
      },
    }));
  }

  unexport(): void {
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    this.exported?.unexport();
    this.exported = undefined;
  }

  private onStart(call: CallContext): boolean {
    if (!this.participants.has(call.sender) && call.uid !== 0) {
      throw accessDenied('only the client that asked for this transaction may start it');
    }
    return this.start();
  }

  /** Runs it; false when it already runs or ended. */
  start(): boolean {
    if (this.state !== 'waiting') return false;
    this.setState('running');
    log('start', `by ${this.initiator}`, this.title);
    this.running = this.run();
    return true;
  }

  /** Resolves when it has finished (immediately when it never started). */
  async done(): Promise<void> {
    await this.running;
  }

  cancel(why: string): void {
    if (this.state === 'finished' || this.state === 'cancelling') return;
    log('cancel', why, this.title);
    if (this.state === 'waiting') {
      this.finish(this.cancelledOutcome());
      return;
    }
    this.setState('cancelling');
    this.controller.abort(new AptOstreeError('cancelled', 'the operation was cancelled', 'nothing was changed'));
  }

  private cancelledOutcome(): Outcome {
    return { success: false, errorCode: 'cancelled', errorMessage: 'the operation was cancelled', errorHint: 'nothing was changed',
      resultJson: undefined, result: undefined };
  }

  private async run(): Promise<void> {
    let outcome: Outcome;
    try {
      const result = await execute({ sysroot: this.init.sysroot, osname: this.init.osname, progress: this.sink(),
        signal: this.controller.signal }, this.request);
      outcome = { success: true, errorCode: '', errorMessage: '', errorHint: undefined, resultJson: JSON.stringify(result), result };
    } catch (err) {
      const e = toAptOstreeError(err);
      outcome = this.controller.signal.aborted
        ? { ...this.cancelledOutcome(), errorMessage: e.code === 'cancelled' ? e.message : 'the operation was cancelled',
          errorHint: e.code === 'cancelled' ? e.hint : 'nothing was changed' }
        : { success: false, errorCode: e.code, errorMessage: e.message, errorHint: e.hint, resultJson: undefined, result: undefined };
    }
    try {
      await this.init.beforeFinished(this, outcome);
    } catch (err) {
      log('reload', `failed: ${(err as Error).message}`, this.title);
    }
    this.finish(outcome);
  }

  private finish(outcome: Outcome): void {
    if (this.state === 'finished') return;
    this.outcome = outcome;
    this.flushProgress();
    this.setState('finished', ['Outcome']);
    const message = outcome.success ? '' : errorText(outcome.errorMessage, outcome.errorHint);
    this.exported?.emit('Finished', outcome.success, outcome.success ? '' : outcome.errorCode, message);
    log('finished', outcome.success ? 'success' : `${outcome.errorCode}: ${message}`, this.title);
    this.init.onFinished(this);
  }

  private setState(state: TransactionState, more: string[] = []): void {
    this.state = state;
    this.exported?.propertiesChanged(['State', ...more]);
  }

  private updateProgress(values: Record<string, unknown>): void {
    this.progress = { ...this.progress, ...values };
    if (this.progressTimer) return;
    this.progressTimer = setTimeout(() => { this.flushProgress(); }, PROGRESS_INTERVAL_MS);
  }

  private flushProgress(): void {
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    this.exported?.propertiesChanged(['Progress']);
  }

  private sink(): ProgressSink {
    const emit = (signal: string, ...args: unknown[]): void => {
      if (this.state === 'finished') return;
      this.exported?.emit(signal, ...args);
    };
    const u = (n: number): number => Math.max(0, Math.round(Number.isFinite(n) ? n : 0));
    return {
      message: (text) => {
        emit('Message', text);
        this.updateProgress({ message: text });
      },
      taskBegin: (title) => {
        emit('TaskBegin', title);
        this.updateProgress({ task: title, percent: undefined });
      },
      taskEnd: (title) => {
        emit('TaskEnd', title);
        this.updateProgress({ task: '' });
      },
      percent: (title, percent) => {
        const p = Math.min(100, u(percent));
        emit('PercentProgress', title, p);
        this.updateProgress({ percent: p });
      },
      download: (s) => {
        emit('DownloadProgress', s.title, u(s.bytesDone), u(s.bytesTotal), u(s.rate));
        this.updateProgress({ 'download-title': s.title, 'bytes-done': u(s.bytesDone), 'bytes-total': u(s.bytesTotal),
          'bytes-per-second': u(s.rate) });
      },
    };
  }
}
