/**
 * Every failure a user can see is an AptOstreeError: a stable code (scripts and the D-Bus error names key on it),
 * one line of message, and a hint that says what to do next.
 */
/** Every code a failure can carry; the D-Bus error names are derived from these (src/dbus/errors.ts). */
export const ERROR_CODES = [
  'usage', 'not-root', 'not-a-sysroot', 'unknown-os', 'no-deployment', 'unknown-revision', 'invalid-refspec',
  'invalid-karg', 'invalid-index', 'invalid-argument', 'sysroot-locked', 'no-remote', 'pull-failed', 'deploy-failed',
  'bootloader-unsupported', 'no-rollback', 'nothing-to-do', 'editor-failed', 'command-failed', 'tool-missing',
  'cancelled', 'parse-error', 'no-package-database', 'no-kernel', 'invalid-rootfs', 'dpkg-failed',
  'repo-object-modified', 'account-conflict', 'already-requested', 'not-requested', 'not-overridden', 'not-in-base',
  'already-overridden', 'already-installed', 'invalid-package-name', 'invalid-deb', 'unknown-package',
  'unsatisfiable', 'base-skew', 'conflicts-with-base', 'repository-unreachable', 'download-failed', 'disk-full',
  'transaction-in-progress', 'access-denied', 'daemon-unavailable', 'treefile-invalid', 'treefile-not-found',
  'compose-failed', 'postprocess-failed', 'signature-invalid', 'unsigned-commit', 'signing-unsupported',
  'sign-key-invalid', 'remote-exists', 'not-booted', 'live-apply-refused', 'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AptOstreeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AptOstreeError';
    this.code = code;
    this.hint = hint;
  }

  /** The one line a user sees: `error[code]: message — hint`. */
  format(): string {
    const line = `error[${this.code}]: ${oneLine(this.message)}`;
    return this.hint ? `${line} — ${oneLine(this.hint)}` : line;
  }

  toJSON(): { code: ErrorCode; message: string; hint: string | null } {
    return { code: this.code, message: this.message, hint: this.hint ?? null };
  }
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}

const NO_SPACE = /No space left on device|ENOSPC/;

/** Wraps anything thrown into an AptOstreeError so the CLI and the daemon report every failure the same way. */
export function toAptOstreeError(err: unknown): AptOstreeError {
  const text = err instanceof Error ? err.message : String(err);
  if (NO_SPACE.test(text) && !(err instanceof AptOstreeError && err.code === 'cancelled')) {
    // Whatever ran out of room (apt's cache, the work tree, the commit), the fix is the same.
    return new AptOstreeError('disk-full', 'the disk is full: not enough space to finish the operation',
      'free space (e.g. `apt-ostree cleanup -b -m`, or remove files under /var), then try again; nothing was changed',
      { cause: err });
  }
  if (err instanceof AptOstreeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AptOstreeError('internal', message, 'this is a bug in apt-ostree; please report it with the command line', {
    cause: err,
  });
}
