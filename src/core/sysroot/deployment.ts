import type { KeyFile } from '../../lib/keyfile.js';

/** One OSTree deployment of a sysroot, as apt-ostree presents it (fields follow rpm-ostree's status JSON). */
export interface Deployment {
  /** Position in boot order; 0 is the default. */
  index: number;
  osname: string;
  checksum: string;
  serial: number;
  bootcsum: string;
  bootserial: number;
  /** `/ostree/deploy/<os>/deploy/<checksum>.<serial>` inside the sysroot. */
  path: string;
  originPath: string;
  origin: KeyFile | undefined;
  /** Kernel arguments of the boot entry, without OSTree's own `ostree=`. */
  kargs: string[];
  bootEntryFile: string | undefined;
  booted: boolean;
  staged: boolean;
  pinned: boolean;
  /** The deployment a rollback would return to (offline: the one after the default). */
  rollback: boolean;
}

export function deploymentId(d: Pick<Deployment, 'osname' | 'checksum' | 'serial'>): string {
  return `${d.osname}-${d.checksum}.${d.serial}`;
}
