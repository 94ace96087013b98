/**
 * Where the base image contract puts things. Paths are relative to the tree root, without a leading slash, so they
 * can be joined onto a checkout or an image root alike; `abs()` gives the path as the booted system sees it.
 * docs/base-image-contract.md explains each one for image builders.
 */

/** The dpkg database: read-only and per deployment, so a rollback also rolls back what dpkg believes is installed. */
export const DPKG_DATABASE = 'usr/share/dpkg/database';

/** apt's auto/manual marks travel with the dpkg database they describe. */
export const APT_EXTENDED_STATES = 'usr/share/apt-ostree/extended_states';

/** The apt.conf.d snippet that makes apt and the dpkg it runs use the two paths above. */
export const APT_CONF_SNIPPET = 'usr/etc/apt/apt.conf.d/50apt-ostree';

/**
 * Package manager state that Debian keeps under /var (debconf answers, ucf hashes, deb-systemd-helper's enable
 * records, ...). It describes the installed packages, so it must version with them: it is moved to
 * `PACKAGE_STATE_ROOT/var/<path>` and /var/<path> becomes a tmpfiles.d symlink to it.
 */
export const PACKAGE_STATE_ROOT = 'usr/share/apt-ostree/state';

/** Symlinks from /var into /usr owned by the contract (dpkg database, package state). */
export const CONTRACT_TMPFILES = 'usr/lib/tmpfiles.d/apt-ostree.conf';

/** Everything else found in /var, regenerated from the tree's /var content on each compose or layering. */
export const AUTOVAR_TMPFILES = 'usr/lib/tmpfiles.d/apt-ostree-autovar.conf';

/** systemd-tmpfiles `C` lines without an argument copy from /usr/share/factory/<path>. */
export const FACTORY_ROOT = 'usr/share/factory';

/**
 * Paths that dpkg and maintainer scripts rewrite in place. A hardlinked checkout (`ostree checkout -H`) must copy
 * them before running dpkg in it, or the writes land in the repository's objects.
 */
export const IN_PLACE_WRITTEN_PATHS: readonly string[] = [
  'usr/etc',
  DPKG_DATABASE,
  'usr/share/apt-ostree',
  FACTORY_ROOT,
];

/**
 * Default package state moved into /usr. A trailing `*` matches by prefix inside the parent directory.
 * var/cache/ldconfig/aux-cache is deliberately absent: it is a cache that ldconfig rebuilds, and /etc/ld.so.cache
 * (the part that matters) already travels in /usr/etc.
 */
export const DEFAULT_PACKAGE_STATE_PATHS: readonly string[] = [
  'var/cache/debconf',
  'var/lib/ucf',
  'var/lib/systemd/deb-systemd-helper-*',
  'var/lib/systemd/deb-systemd-user-helper-*',
  'var/lib/shells.state',
  'var/lib/pam',
];

export interface ToplevelLink {
  /** Path of the symlink. */
  path: string;
  /** Symlink target, relative as ostree-based systems ship them. */
  target: string;
  /**
   * Directory that receives what the image had at `path` and that tmpfiles.d creates at boot with `mode`
   * (in /var, or /run for what is not kept).
   */
  dir?: { path: string; mode: string; keepContent: boolean };
}

/** The rpm-ostree root layout: everything writable lives in /var, /ostree reaches the sysroot's repository. */
export const TOPLEVEL_LINKS: readonly ToplevelLink[] = [
  { path: 'home', target: 'var/home', dir: { path: 'var/home', mode: '0755', keepContent: true } },
  { path: 'root', target: 'var/roothome', dir: { path: 'var/roothome', mode: '0700', keepContent: true } },
  { path: 'opt', target: 'var/opt', dir: { path: 'var/opt', mode: '0755', keepContent: true } },
  { path: 'srv', target: 'var/srv', dir: { path: 'var/srv', mode: '0755', keepContent: true } },
  { path: 'mnt', target: 'var/mnt', dir: { path: 'var/mnt', mode: '0755', keepContent: true } },
  { path: 'usr/local', target: '../var/usrlocal', dir: { path: 'var/usrlocal', mode: '0755', keepContent: true } },
  { path: 'media', target: 'run/media', dir: { path: 'run/media', mode: '0755', keepContent: false } },
  { path: 'ostree', target: 'sysroot/ostree' },
];

/** Mount points that must exist and be empty in a commit. */
export const EMPTY_MOUNT_POINTS: readonly string[] = ['dev', 'proc', 'sys', 'run', 'tmp', 'sysroot'];

/** Files that identify one machine or hold its secrets; never part of an image. */
export const MACHINE_SECRET_GLOBS: readonly string[] = [
  'usr/etc/ssh/ssh_host_*',
];

/** The path as the booted system sees it. */
export function abs(relative: string): string {
  return `/${relative}`;
}
