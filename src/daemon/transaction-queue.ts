import type { Bus, CallContext } from '../dbus/bus.js';
import { requestKey, titleOf } from '../dbus/request-mapping.js';
import type { Request } from '../core/requests.js';
import { AptOstreeError } from '../lib/errors.js';
import type { Authorizer } from './authorization.js';
import { log } from './log.js';
import { Transaction, type Outcome } from './transaction.js';

export interface QueueOptions {
  bus: Bus;
  authorizer: Authorizer;
  sysroot: string;
  /** Seconds a finished transaction stays on the bus (its Outcome readable). */
  lingerSeconds: number;
  /** Seconds a waiting transaction whose initiator left may still be started before it is dropped. */
  orphanGraceSeconds: number;
  /** The active transaction changed (created, finished or dropped). */
  onActiveChanged(): void;
  /** A transaction ran and is about to announce Finished: the sysroot may have changed. */
  beforeFinished(tx: Transaction, outcome: Outcome): Promise<void>;
}

/**
 * One transaction at a time. An identical request (same stateroot, kind and arguments) joins the active one and gets
 * its path; any other fails with transaction-in-progress. A transaction whose initiator leaves the bus before Start
 * is dropped (after orphanGraceSeconds, in which another root or joined caller may still start it); a finished one is unexported after lingerSeconds (or when its initiator leaves).
 */
export class TransactionQueue {
  active: Transaction | undefined;
  private next = 1;
  private readonly all = new Set<Transaction>();

  constructor(private readonly opts: QueueOptions) {}

  async submit(req: Request, osname: string, call: CallContext, initiator: string): Promise<string> {
    const key = `${osname}\n${requestKey(req)}`;
    const active = this.active;
    if (active) {
      if (active.key === key) {
        active.participants.add(call.sender);
        log('join', `${call.sender} (uid ${call.uid})`, active.title);
        return active.path;
      }
      throw new AptOstreeError('transaction-in-progress',
        `transaction in progress: ${active.title} (started by ${active.initiator})`, '`apt-ostree cancel` to stop it');
    }
    const tx = new Transaction({
      bus: this.opts.bus, authorizer: this.opts.authorizer, number: this.next++, request: req, key, title: titleOf(req),
      initiator, initiatorName: call.sender, sysroot: this.opts.sysroot, osname,
      beforeFinished: (t, o) => this.opts.beforeFinished(t, o),
      onFinished: (t) => { this.finished(t); },
    });
    this.active = tx;
    this.all.add(tx);
    tx.export();
    log('created', `${tx.path} for ${initiator}`, tx.title);
    this.opts.onActiveChanged();
    await this.opts.bus.onNameVanished(call.sender, () => {
      if (tx.state === 'waiting') {
        // Another connection (a root caller, or one that joined) may still start it for a moment: gdbus and busctl
        // leave the bus right after creating it.
        const timer = setTimeout(() => {
          if (tx.state !== 'waiting') return;
          log('dropped', `${call.sender} left before Start`, tx.title);
          this.drop(tx);
        }, this.opts.orphanGraceSeconds * 1000);
        timer.unref();
      } else if (tx.state === 'finished') {
        this.remove(tx);
      }
    });
    return tx.path;
  }

  /** Cancels the active transaction (shutdown) and waits for it to end. */
  async cancelActive(why: string): Promise<void> {
    const tx = this.active;
    if (!tx) return;
    tx.cancel(why);
    await tx.done();
  }

  private drop(tx: Transaction): void {
    if (this.active === tx) this.active = undefined;
    this.remove(tx);
    this.opts.onActiveChanged();
  }

  private remove(tx: Transaction): void {
    if (!this.all.delete(tx)) return;
    tx.unexport();
  }

  private finished(tx: Transaction): void {
    if (this.active === tx) this.active = undefined;
    this.opts.onActiveChanged();
    const timer = setTimeout(() => { this.remove(tx); }, this.opts.lingerSeconds * 1000);
    timer.unref();
  }
}
