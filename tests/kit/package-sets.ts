/**
 * All the kit's package specs, and which of them make up each base commit. v2 differs from v1 by a newer
 * kit-libfoo1 and an added kit-extra-tools (an upgrade); kit-alt lacks kit-filler-b and has kit-alt-tools (a rebase).
 */
import {
  kitAltTools,
  kitBaseFiles,
  kitBusybox,
  kitDash,
  kitDpkg,
  kitExtraTools,
  kitFillerA,
  kitFillerB,
  kitLibc,
  kitLibfoo1,
  kitLinuxImage,
  kitPasswd,
  kitSystemdDummy,
  kitTar,
} from './base-packages.js';
import type { DebSpec } from './deb.js';
import type { HostInfo } from './host-info.js';
import type { KitBase } from './layout.js';
import { layerablePackages } from './repo-packages.js';

export interface KitPackageSpecs {
  /** Every package of the apt repository (base packages included: apt must know the installed versions). */
  all: DebSpec[];
  /** `name=version` of each base commit's packages. */
  bases: Record<KitBase, { name: string; version: string }[]>;
}

export async function kitPackageSpecs(host: HostInfo): Promise<KitPackageSpecs> {
  const common = [
    kitBaseFiles('13.1'),
    kitBusybox(),
    await kitDash(),
    await kitTar(),
    await kitLibc(host),
    await kitDpkg(),
    await kitPasswd(),
    kitLinuxImage(),
    kitSystemdDummy(),
    kitFillerA(),
  ];
  const foo10 = kitLibfoo1('1.0-1', host);
  const foo11 = kitLibfoo1('1.1-1', host);
  const fillerB = kitFillerB();
  const extra = kitExtraTools();
  const alt = kitAltTools();
  const ids = (specs: readonly DebSpec[]): { name: string; version: string }[] =>
    specs.map((s) => ({ name: s.name, version: s.version }));
  return {
    all: [...common, foo10, foo11, fillerB, extra, alt, ...layerablePackages(host)],
    bases: {
      v1: ids([...common, foo10, fillerB]),
      v2: ids([...common, foo11, fillerB, extra]),
      alt: ids([...common, foo10, alt]),
    },
  };
}
