/** Names and places of the kit: fixed, so tests can rely on them. */

export const KIT_REMOTE = 'kit';
export const KIT_OSNAME = 'debian';

export const KIT_REFS = {
  main: 'debian/13/x86_64/kit',
  alt: 'debian/13/x86_64/kit-alt',
} as const;

export const KIT_VERSIONS = { v1: '13.1', v2: '13.2', alt: '13.1-alt' } as const;
export type KitBase = keyof typeof KIT_VERSIONS;

export const KIT_APT_SUITE = 'kit';
export const KIT_APT_COMPONENT = 'main';

/** Subdirectories of a built kit directory. */
export const KIT_DIRS = {
  bareRepo: 'ostree-bare',
  archiveRepo: 'ostree-archive',
  aptRepo: 'apt',
  manifest: 'kit.json',
} as const;

/** `deb` line for the kit's apt repository served at `url` (unsigned, hence trusted=yes). */
export function aptSourcesLine(url: string): string {
  return `deb [trusted=yes] ${url.replace(/\/+$/, '')} ${KIT_APT_SUITE} ${KIT_APT_COMPONENT}`;
}
