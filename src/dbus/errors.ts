import { AptOstreeError, ERROR_CODES, toAptOstreeError, type ErrorCode } from '../lib/errors.js';

export { ERROR_CODES };
import { ERROR_PREFIX } from './names.js';

/**
 * Errors across the bus. An AptOstreeError travels as `org.aptostree.AptOstree1.Error.<CamelCase code>` whose one
 * string is `message — hint`: what gdbus and busctl print, and the line the CLI prints after `error[code]: `. (A
 * second string for the hint would be cleaner, but GDBus refuses error bodies other than (s).) The client splits
 * the text at its last ` — ` and turns every error reply back into an AptOstreeError with the same code, message
 * and hint, so both executors fail the same way; should a message itself contain ` — `, the split moves but the
 * line the user sees is the same. The standard names the bus or the daemon use become codes too (fromBusError):
 * a refusal is `access-denied`, a daemon that is gone or did not start in time `daemon-unavailable`.
 */


const KNOWN = new Set<string>(ERROR_CODES);

export function isErrorCode(code: string): code is ErrorCode {
  return KNOWN.has(code);
}

/** The freedesktop error names the daemon and the client use. */
export const STANDARD_ERRORS = {
  failed: 'org.freedesktop.DBus.Error.Failed',
  accessDenied: 'org.freedesktop.DBus.Error.AccessDenied',
  authFailed: 'org.freedesktop.DBus.Error.AuthFailed',
  interactiveAuthorizationRequired: 'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired',
  invalidArgs: 'org.freedesktop.DBus.Error.InvalidArgs',
  unknownMethod: 'org.freedesktop.DBus.Error.UnknownMethod',
  unknownObject: 'org.freedesktop.DBus.Error.UnknownObject',
  unknownInterface: 'org.freedesktop.DBus.Error.UnknownInterface',
  unknownProperty: 'org.freedesktop.DBus.Error.UnknownProperty',
  serviceUnknown: 'org.freedesktop.DBus.Error.ServiceUnknown',
  nameHasNoOwner: 'org.freedesktop.DBus.Error.NameHasNoOwner',
  noReply: 'org.freedesktop.DBus.Error.NoReply',
  /** dbus-daemon's answer when the service it was asked to start did not take its name in service_start_timeout. */
  timedOut: 'org.freedesktop.DBus.Error.TimedOut',
  noServer: 'org.freedesktop.DBus.Error.NoServer',
  disconnected: 'org.freedesktop.DBus.Error.Disconnected',
  timeout: 'org.freedesktop.DBus.Error.Timeout',
} as const;

/**
 * An error with a D-Bus name: thrown by a method handler to reply with exactly that name (bus.ts; the text sent is
 * `message — hint`), and what a failed call rejects with on the client side, with the reply's text as message and
 * no hint (fromBusError splits it and turns it into an AptOstreeError).
 */
export class BusError extends Error {
  constructor(readonly dbusName: string, message: string, readonly hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusError';
  }
}

/** `sysroot-locked` → `SysrootLocked`. */
function camel(code: string): string {
  return code.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** `SysrootLocked` → `sysroot-locked`. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? '' : '-') + c.toLowerCase());
}

/** `sysroot-locked` → `org.aptostree.AptOstree1.Error.SysrootLocked`. */
export function dbusErrorName(code: ErrorCode): string {
  return `${ERROR_PREFIX}.${camel(code)}`;
}

/** The inverse of dbusErrorName; undefined for names that are not ours or codes this build does not know. */
export function errorCodeFromDBusName(name: string): ErrorCode | undefined {
  if (!name.startsWith(`${ERROR_PREFIX}.`)) return undefined;
  const tail = name.slice(ERROR_PREFIX.length + 1);
  if (!/^[A-Z][A-Za-z0-9]*$/.test(tail)) return undefined;
  const code = kebab(tail);
  return isErrorCode(code) && camel(code) === tail ? code : undefined;
}

/** The text of an error reply: `message — hint`, the line a user sees without the `error[code]: ` prefix. */
export function errorText(message: string, hint: string | undefined): string {
  return hint ? `${message} — ${hint}` : message;
}

const SEPARATOR = ' — ';

/** Splits an error text back into message and hint (at the last ` — `). */
export function splitErrorText(text: string): { message: string; hint: string | undefined } {
  const at = text.lastIndexOf(SEPARATOR);
  if (at <= 0 || at + SEPARATOR.length >= text.length) return { message: text, hint: undefined };
  return { message: text.slice(0, at), hint: text.slice(at + SEPARATOR.length) };
}

export interface ErrorReply {
  name: string;
  /** The reply's one string: `message — hint`. */
  text: string;
}

/** What a method handler's failure becomes on the wire. */
export function toErrorReply(err: unknown): ErrorReply {
  if (err instanceof BusError) return { name: err.dbusName, text: errorText(err.message, err.hint) };
  const e = toAptOstreeError(err);
  return { name: dbusErrorName(e.code), text: errorText(e.message, e.hint) };
}

/** The AptOstreeError of an AptOstreeError as a D-Bus reply error (for handlers that want to throw a BusError). */
export function toBusError(err: unknown): BusError {
  if (err instanceof BusError) return err;
  const e = toAptOstreeError(err);
  return new BusError(dbusErrorName(e.code), e.message, e.hint, { cause: err });
}

/** A refusal by authorization: the standard AccessDenied, which gdbus and busctl know. */
export function accessDenied(message: string, hint?: string): BusError {
  return new BusError(STANDARD_ERRORS.accessDenied, message, hint);
}

const AUTHORIZATION = new Set<string>([
  STANDARD_ERRORS.accessDenied, STANDARD_ERRORS.authFailed, STANDARD_ERRORS.interactiveAuthorizationRequired,
]);

/** What to look at when apt-ostreed is gone or does not start. */
export const DAEMON_LOG_HINT = 'see `systemctl status apt-ostreed` and `journalctl -u apt-ostreed`';

/**
 * Turns an error reply (or any failure of a call) into the AptOstreeError the in-process executor would have thrown.
 * Our own names keep their code; refusals by authorization (polkit said no, the bus policy refused the call) become
 * `access-denied` — `not-root` is the client's own verdict when no daemon is reachable; no answer in time, a daemon
 * that left the bus or could not be started become `daemon-unavailable`; anything else is `internal`, with the D-Bus
 * name in the message.
 */
export function fromBusError(err: unknown): AptOstreeError {
  if (err instanceof AptOstreeError) return err;
  if (!(err instanceof BusError)) return toAptOstreeError(err);
  const { message, hint } = err.hint === undefined ? splitErrorText(err.message) : { message: err.message, hint: err.hint };
  const code = errorCodeFromDBusName(err.dbusName);
  if (code !== undefined) return new AptOstreeError(code, message, hint, { cause: err });
  if (AUTHORIZATION.has(err.dbusName)) {
    return new AptOstreeError('access-denied', message,
      hint ?? 'run it as root (sudo), or ask your administrator for a polkit rule', { cause: err });
  }
  if (err.dbusName === STANDARD_ERRORS.invalidArgs) return new AptOstreeError('invalid-argument', message, hint, { cause: err });
  if (isNoAnswer(err) || isDaemonUnreachable(err)) {
    return new AptOstreeError('daemon-unavailable', `apt-ostreed is not available: ${message}`, hint ?? DAEMON_LOG_HINT,
      { cause: err });
  }
  return new AptOstreeError('internal', `${err.dbusName}: ${message}`, hint ?? 'is apt-ostreed the same version as apt-ostree?',
    { cause: err });
}

const UNREACHABLE = new Set<string>([
  STANDARD_ERRORS.serviceUnknown, STANDARD_ERRORS.nameHasNoOwner, STANDARD_ERRORS.noServer,
  STANDARD_ERRORS.disconnected,
]);

const NO_ANSWER = new Set<string>([STANDARD_ERRORS.timedOut, STANDARD_ERRORS.timeout, STANDARD_ERRORS.noReply]);

/**
 * Whether a call got no answer in time: the bus gave up starting the service (TimedOut, after dbus-daemon's
 * service_start_timeout: the call never reached it), or no reply came within the call's timeout (NoReply).
 */
export function isNoAnswer(err: unknown): boolean {
  return err instanceof BusError && NO_ANSWER.has(err.dbusName);
}

/**
 * Whether a failure means "there is no daemon to talk to" (no bus, the name neither owned nor activatable, activation
 * failed) — the cases where a root client falls back to the in-process engine — rather than an answer from it.
 */
export function isDaemonUnreachable(err: unknown): boolean {
  if (err instanceof BusError) {
    return UNREACHABLE.has(err.dbusName) || err.dbusName.startsWith('org.freedesktop.DBus.Error.Spawn.') ||
      err.dbusName.startsWith('org.freedesktop.systemd1.');
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES', 'ENOTDIR', 'ECONNCLOSED',
    'bus-unavailable'].includes(code);
}
