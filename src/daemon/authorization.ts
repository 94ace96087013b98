import type { Bus, CallContext } from '../dbus/bus.js';
import { accessDenied } from '../dbus/errors.js';
import { POLKIT_SERVICE } from '../dbus/names.js';
import { actionsFor, checkAuthorization } from '../dbus/polkit.js';
import { log } from './log.js';

/**
 * Who may call what: uid 0 always; methods without a polkit action (reading) everybody; other callers need polkit
 * to authorize every action of the call. Without polkit on the bus, non-root callers are refused.
 */
export class Authorizer {
  constructor(private readonly bus: Bus) {}

  async authorize(call: CallContext, args: readonly unknown[], opts: { initiator?: boolean } = {}): Promise<void> {
    if (call.uid === 0) return;
    const actions = actionsFor(call.interface, call.member, args);
    if (actions.length === 0) return;
    // The initiator of a transaction may cancel it without asking.
    if (opts.initiator && call.member === 'Cancel') return;
    for (const action of actions) {
      const result = await checkAuthorization(this.bus, call.sender, action);
      if (result === 'authorized') continue;
      log('refused', `${call.interface}.${call.member} for uid ${call.uid} (${call.sender}): ${action} ${result}`);
      if (result === 'unavailable') {
        throw accessDenied(`${call.member} needs root: polkit is not available to authorize uid ${call.uid}`,
          'run it as root (sudo), or install and start polkitd');
      }
      throw accessDenied(`uid ${call.uid} is not authorized for ${action}`,
        'run it as root (sudo), or ask your administrator for a polkit rule');
    }
  }

  /** Whether polkit answers on this bus (for GetStatus). */
  async polkitAvailable(): Promise<boolean> {
    try {
      return await this.bus.isReachable(POLKIT_SERVICE);
    } catch {
      return false;
    }
  }
}
