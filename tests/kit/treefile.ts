/**
 * The kit's base v1 as a treefile for `apt-ostree compose`: chrootless (the kit's packages have no maintainer
 * scripts worth a chroot), over the kit's apt repository by file://, with one of each customization (an added file,
 * a removed glob, an inline script, kernel arguments). The compose tests and the compose benchmark use it.
 */
import type { Kit } from './index.js';

export interface KitTreefileOptions {
  ref: string;
  /** More treefile lines appended as they are. */
  extra?: readonly string[];
}

/** The text of the treefile; `motd` must exist next to it (add-files names it relatively). */
export function kitTreefile(kit: Kit, opts: KitTreefileOptions): string {
  return [
    `ref: ${opts.ref}`,
    'release: kit',
    'variant: custom',
    'bootstrap-mode: chrootless',
    'repos:',
    `  - uri: file://${kit.aptRepoDir}`,
    '    suites: [kit]',
    '    trusted: true',
    'packages:',
    // name=version: the kit's repository also has kit-libfoo1 1.1 (base v2's); the image is v1's.
    ...Object.entries(kit.basePackages.v1).sort().map(([p, v]) => `  - ${p === 'kit-libfoo1' ? `${p}=${v}` : p}`),
    'initramfs: packaged',
    'add-files:',
    '  - [motd, /etc/motd]',
    'remove-files:',
    '  - /usr/share/doc/kit-filler-*',
    'postprocess:',
    '  - echo composed > /etc/kit-composed',
    'kernel-args: [quiet]',
    'automatic-version-prefix: "2026.11"',
    ...(opts.extra ?? []),
    '',
  ].join('\n');
}
