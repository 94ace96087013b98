/**
 * Turns dpkg's report of a failed run into one AptOstreeError that names the package and the maintainer script.
 * dpkg says, for example:
 *
 *   dpkg: error processing package kit-failing (--configure):
 *    installed kit-failing package post-installation script subprocess returned error exit status 1
 *   dpkg: error processing archive /run/apt-ostree/debs/x_1_all.deb (--unpack):
 *    new x package pre-installation script subprocess returned error exit status 1
 */
import { AptOstreeError } from '../../lib/errors.js';

export interface DpkgFailure {
  /** The package dpkg names (for an archive: the package it contains, when known). */
  package: string | undefined;
  /** preinst, postinst, prerm or postrm; undefined when no script failed (dependency problems, a bad archive). */
  script: string | undefined;
  /** `exit status 1`, `killed by signal (Terminated)`, or dpkg's own reason. */
  reason: string | undefined;
  /** The dpkg action that failed (`--configure`, `--unpack`, …). */
  action: string | undefined;
}

const SCRIPT_NAMES: Readonly<Record<string, string>> = {
  'pre-installation': 'preinst',
  'post-installation': 'postinst',
  'pre-removal': 'prerm',
  'post-removal': 'postrm',
};

export function parseDpkgFailure(lines: readonly string[], packageOfArchive: (path: string) => string | undefined = () => undefined): DpkgFailure {
  const failure: DpkgFailure = { package: undefined, script: undefined, reason: undefined, action: undefined };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const head = /^dpkg: error processing (package|archive) (\S+) \((--[a-z-]+)\):/.exec(line);
    if (head) {
      if (failure.package !== undefined) continue;
      const [, kind = '', subject = '', action = ''] = head;
      failure.package = kind === 'archive' ? (packageOfArchive(subject) ?? subject) : subject.replace(/:[a-z0-9-]+$/, '');
      failure.action = action;
      failure.reason = lines[i + 1]?.trim();
      continue;
    }
    const script = /(?:new|old|installed) (\S+) package (pre-installation|post-installation|pre-removal|post-removal) script subprocess (?:returned error )?(.*)$/.exec(line);
    if (script && failure.script === undefined) {
      const [, pkg = '', kind = '', reason = ''] = script;
      failure.package ??= pkg.replace(/:[a-z0-9-]+$/, '');
      failure.script = SCRIPT_NAMES[kind];
      failure.reason = reason.trim();
    }
  }
  return failure;
}

/** Noise that says nothing about the cause. */
const BOILERPLATE = /^(dpkg: too many errors, stopping|\(Reading database|Selecting previously unselected)/;
/** dpkg's closing summary (a list of the failed packages, already named in the message). */
const SUMMARY = /^(Errors were encountered while processing:|Processing was halted because)/;

/** One line out of dpkg's last lines: what the message of a 'dpkg-failed' error ends with. */
export function condenseOutput(lines: readonly string[], maxLines = 8, maxChars = 500): string {
  const summary = lines.findIndex((l) => SUMMARY.test(l));
  const useful = (summary < 0 ? lines : lines.slice(0, summary))
    .map((l) => l.trim()).filter((l) => l !== '' && !BOILERPLATE.test(l));
  const text = useful.slice(-maxLines).join('; ');
  return text.length > maxChars ? `…${text.slice(text.length - maxChars)}` : text;
}

export function dpkgFailedError(command: string, lines: readonly string[], failure: DpkgFailure): AptOstreeError {
  const output = condenseOutput(lines);
  const what = failure.package === undefined
    ? `${command} failed`
    : failure.script === undefined
      ? `${failure.package} could not be processed by ${command}${failure.reason ? ` (${failure.reason})` : ''}`
      : `the ${failure.script} script of ${failure.package} failed (${failure.reason ?? 'non-zero exit'}) in ${command}`;
  const hint = failure.script === undefined
    ? 'nothing was committed and the system is unchanged; the output above says why dpkg stopped'
    : `nothing was committed and the system is unchanged; ${failure.package ?? 'the package'}'s ${failure.script} does `
      + 'not work in the new tree: leave the package out, or report the failure to its maintainer';
  return new AptOstreeError('dpkg-failed', output ? `${what}: ${output}` : what, hint);
}
