/**
 * The names of apt-ostreed's D-Bus contract: bus name, object paths, interfaces, the polkit actions and the files the
 * package installs. Both the daemon and the client import these; nothing else spells them.
 */
export const BUS_NAME = 'org.aptostree.AptOstree1';
export const OBJECT_ROOT = '/org/aptostree/AptOstree1';
export const SYSROOT_PATH = `${OBJECT_ROOT}/Sysroot`;
export const OS_PATH_PREFIX = `${OBJECT_ROOT}/OS`;
export const TRANSACTION_PATH_PREFIX = `${OBJECT_ROOT}/Transaction`;
/** What an object-path property or field holds when it points nowhere (D-Bus has no empty object path). */
export const NO_OBJECT = '/';

export const SYSROOT_INTERFACE = `${BUS_NAME}.Sysroot`;
export const OS_INTERFACE = `${BUS_NAME}.OS`;
export const TRANSACTION_INTERFACE = `${BUS_NAME}.Transaction`;
export const INTERFACES = [SYSROOT_INTERFACE, OS_INTERFACE, TRANSACTION_INTERFACE] as const;
export type InterfaceName = (typeof INTERFACES)[number];

/** Prefix of our error names: `org.aptostree.AptOstree1.Error.SysrootLocked` (see errors.ts). */
export const ERROR_PREFIX = `${BUS_NAME}.Error`;

/** The freedesktop names we talk to. */
export const DBUS_SERVICE = 'org.freedesktop.DBus';
export const DBUS_PATH = '/org/freedesktop/DBus';
export const PROPERTIES_INTERFACE = 'org.freedesktop.DBus.Properties';
export const INTROSPECTABLE_INTERFACE = 'org.freedesktop.DBus.Introspectable';
export const POLKIT_SERVICE = 'org.freedesktop.PolicyKit1';
export const POLKIT_PATH = '/org/freedesktop/PolicyKit1/Authority';
export const POLKIT_INTERFACE = 'org.freedesktop.PolicyKit1.Authority';

/** Where the package installs things (data/ in the source tree). */
export const INSTALLED_FILES = {
  daemon: '/usr/libexec/apt-ostreed',
  client: '/usr/bin/apt-ostree',
  systemdUnit: '/usr/lib/systemd/system/apt-ostreed.service',
  automaticService: '/usr/lib/systemd/system/apt-ostreed-automatic.service',
  automaticTimer: '/usr/lib/systemd/system/apt-ostreed-automatic.timer',
  activation: `/usr/share/dbus-1/system-services/${BUS_NAME}.service`,
  busPolicy: `/usr/share/dbus-1/system.d/${BUS_NAME}.conf`,
  polkitActions: `/usr/share/polkit-1/actions/${BUS_NAME}.policy`,
  config: '/etc/apt-ostreed.conf',
} as const;

/**
 * Escapes any string into one object-path element, as systemd's sd_bus_path_encode does: every byte outside
 * [A-Za-z0-9], and a leading digit, becomes `_` and two lower-case hex digits (UTF-8 bytes); the empty string is `_`.
 * The mapping is one-to-one, so unescapePathElement gives the name back.
 */
export function escapePathElement(name: string): string {
  if (name === '') return '_';
  let out = '';
  const bytes = Buffer.from(name, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    const alnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
    const leadingDigit = i === 0 && b >= 0x30 && b <= 0x39;
    out += alnum && !leadingDigit ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of escapePathElement; undefined when the element is not one it could have produced. */
export function unescapePathElement(element: string): string | undefined {
  if (element === '_') return '';
  if (!/^([A-Za-z0-9]|_[0-9a-f]{2})+$/.test(element)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < element.length;) {
    if (element[i] === '_') {
      bytes.push(parseInt(element.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(element.charCodeAt(i));
      i++;
    }
  }
  const name = Buffer.from(bytes).toString('utf8');
  return escapePathElement(name) === element ? name : undefined;
}

/** `/org/aptostree/AptOstree1/OS/<osname>`, the osname escaped (fedora-coreos → fedora_2dcoreos). */
export function osPath(osname: string): string {
  return `${OS_PATH_PREFIX}/${escapePathElement(osname)}`;
}

/** The osname of an OS object path, or undefined when the path is not one. */
export function osnameFromPath(path: string): string | undefined {
  if (!path.startsWith(`${OS_PATH_PREFIX}/`)) return undefined;
  const element = path.slice(OS_PATH_PREFIX.length + 1);
  return element.includes('/') ? undefined : unescapePathElement(element);
}

/** `/org/aptostree/AptOstree1/Transaction/<n>` for a transaction number (a non-negative integer). */
export function transactionPath(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad transaction number ${n}`);
  return `${TRANSACTION_PATH_PREFIX}/${n}`;
}

/** The number of a transaction object path, or undefined when the path is not one. */
export function transactionNumberFromPath(path: string): number | undefined {
  const m = /^\/org\/aptostree\/AptOstree1\/Transaction\/(0|[1-9][0-9]*)$/.exec(path);
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
