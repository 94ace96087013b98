/**
 * Merging an included layer under its includer: the includer's scalars win, lists are concatenated (included first),
 * mappings merge key by key (the includer's value wins). Duplicates are removed later, once defaults make list items
 * comparable (normalize.ts).
 */
import type { Origin } from './locate.js';
import type { Layer, LayerData } from './layer.js';

type Kind = 'scalar' | 'list' | 'map';

export const KEY_KINDS = {
  ref: 'scalar', release: 'scalar', architecture: 'scalar', variant: 'scalar', 'bootstrap-mode': 'scalar',
  repos: 'list', packages: 'list', 'local-debs': 'list', 'exclude-packages': 'list', recommends: 'scalar', documentation: 'scalar',
  'add-files': 'list', 'remove-files': 'list', postprocess: 'list', units: 'list', 'default-target': 'scalar',
  initramfs: 'scalar', 'initramfs-args': 'list', 'kernel-args': 'list', users: 'scalar', metadata: 'map',
  'automatic-version-prefix': 'scalar', 'machineid-compat': 'scalar',
} as const satisfies Record<keyof LayerData, Kind>;

/** `over` is the includer (or a later include), `under` what came before it. */
export function mergeLayers(under: Layer, over: Layer): Layer {
  const data: LayerData & Record<string, unknown> = {};
  const children = new Map<string | number, Origin>();
  const u = under.data as Record<string, unknown>;
  const o = over.data as Record<string, unknown>;
  for (const [key, kind] of Object.entries(KEY_KINDS) as [string, Kind][]) {
    const inUnder = u[key] !== undefined;
    const inOver = o[key] !== undefined;
    if (!inUnder && !inOver) continue;
    const uOrigin = under.origin.children.get(key);
    const oOrigin = over.origin.children.get(key);
    if (kind === 'scalar' || !inUnder || !inOver) {
      const from = inOver ? { value: o[key], origin: oOrigin } : { value: u[key], origin: uOrigin };
      data[key] = from.value;
      if (from.origin !== undefined) children.set(key, from.origin);
    } else if (kind === 'list') {
      const first = u[key] as unknown[];
      const second = o[key] as unknown[];
      data[key] = [...first, ...second];
      const items = new Map<string | number, Origin>();
      first.forEach((_, i) => { const at = uOrigin?.children.get(i); if (at !== undefined) items.set(i, at); });
      second.forEach((_, i) => { const at = oOrigin?.children.get(i); if (at !== undefined) items.set(first.length + i, at); });
      const anchor = oOrigin ?? uOrigin;
      if (anchor !== undefined) children.set(key, { ...anchor, children: items });
    } else {
      data[key] = { ...(u[key] as Record<string, unknown>), ...(o[key] as Record<string, unknown>) };
      const anchor = oOrigin ?? uOrigin;
      if (anchor !== undefined) children.set(key, { ...anchor, children: new Map([...(uOrigin?.children ?? []), ...(oOrigin?.children ?? [])]) });
    }
  }
  return { data, origin: { ...over.origin, children } };
}
