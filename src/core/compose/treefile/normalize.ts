/** The merged layers → the Treefile the pipeline reads: defaults applied, duplicates removed, cross-key checks. */
import { AptOstreeError } from '../../../lib/errors.js';
import { DEFAULT_REPO_URI, DEFAULTS, defaultSuites } from './defaults.js';
import type { Layer, LayerRepo } from './layer.js';
import type { Origin } from './locate.js';
import { TREEFILE_HINT } from './parse.js';
import type { Treefile, TreefileRepo } from './types.js';

interface Normalized { treefile: Treefile; origin: Origin }

type Identity = (item: unknown, at: Origin | undefined, index: number) => string;

/** Equal values: JSON text is exact here, as every item is built with its keys in one order. */
const byValue: Identity = (item) => JSON.stringify(item);
/** The same declaration reached twice through a diamond of includes. */
const byDeclaration: Identity = (item, at, index) => at?.at ?? `#${index}`;

/** Keeps the first of equal items (the included one) and renumbers their origins. */
function unique<T>(items: readonly T[], origin: Origin | undefined, identity: Identity = byValue): { items: T[]; origin: Origin | undefined } {
  const seen = new Set<string>();
  const kept: T[] = [];
  const children = new Map<string | number, Origin>();
  items.forEach((item, i) => {
    const key = identity(item, origin?.children.get(i), i);
    if (seen.has(key)) return;
    seen.add(key);
    const at = origin?.children.get(i);
    if (at !== undefined) children.set(kept.length, at);
    kept.push(item);
  });
  return { items: kept, origin: origin === undefined ? undefined : { ...origin, children } };
}

function repoWithDefaults(repo: LayerRepo, release: string): TreefileRepo {
  return {
    ...(repo.name === undefined ? {} : { name: repo.name }),
    uri: repo.uri,
    suites: repo.suites ?? defaultSuites(repo.uri, release),
    components: repo.components ?? [...DEFAULTS.components],
    ...(repo['signed-by'] === undefined ? {} : { 'signed-by': repo['signed-by'] }),
    trusted: repo.trusted ?? false,
  };
}

const packageName = (spec: string): string => spec.split('=')[0] ?? spec;

export function normalize(merged: Layer): Normalized {
  const d = merged.data;
  const origins = new Map(merged.origin.children);
  const invalid = (at: string, message: string, hint = TREEFILE_HINT): AptOstreeError =>
    new AptOstreeError('treefile-invalid', `${at}: ${message}`, hint);

  if (d.ref === undefined) {
    throw invalid(merged.origin.at, 'missing required key "ref"',
      'set ref (the OSTree branch to commit to, e.g. debian/13/x86_64/base) in this treefile or one it includes');
  }
  const release = d.release ?? DEFAULTS.release;

  type ListKey = 'packages' | 'local-debs' | 'exclude-packages' | 'add-files' | 'remove-files' | 'postprocess' | 'units' | 'kernel-args' | 'initramfs-args';
  const list = <K extends ListKey>(key: K, items: Treefile[K] | undefined, identity?: Identity): Treefile[K] => {
    const result = unique<unknown>(items ?? [], origins.get(key), identity);
    if (result.origin !== undefined) origins.set(key, result.origin);
    return result.items as Treefile[K];
  };

  const repos = unique((d.repos ?? [{ uri: DEFAULT_REPO_URI }]).map((r) => repoWithDefaults(r, release)), origins.get('repos'));
  if (repos.origin !== undefined) origins.set('repos', repos.origin);

  const treefile: Treefile = {
    ref: d.ref,
    release,
    ...(d.architecture === undefined ? {} : { architecture: d.architecture }),
    variant: d.variant ?? DEFAULTS.variant,
    'bootstrap-mode': d['bootstrap-mode'] ?? DEFAULTS['bootstrap-mode'],
    repos: repos.items,
    packages: list('packages', d.packages),
    'local-debs': list('local-debs', d['local-debs']),
    'exclude-packages': list('exclude-packages', d['exclude-packages']),
    recommends: d.recommends ?? DEFAULTS.recommends,
    documentation: d.documentation ?? DEFAULTS.documentation,
    'add-files': list('add-files', d['add-files']),
    'remove-files': list('remove-files', d['remove-files']),
    postprocess: list('postprocess', d.postprocess),
    units: list('units', d.units),
    ...(d['default-target'] === undefined ? {} : { 'default-target': d['default-target'] }),
    initramfs: d.initramfs ?? DEFAULTS.initramfs,
    // dracut arguments come in pairs ("--add", "ostree") whose repeats are meaningful: only a treefile included twice
    // is not allowed to repeat them.
    'initramfs-args': list('initramfs-args', d['initramfs-args'], byDeclaration),
    'kernel-args': list('kernel-args', d['kernel-args']),
    users: d.users ?? DEFAULTS.users,
    metadata: d.metadata ?? {},
    ...(d['automatic-version-prefix'] === undefined ? {} : { 'automatic-version-prefix': d['automatic-version-prefix'] }),
    'machineid-compat': d['machineid-compat'] ?? DEFAULTS['machineid-compat'],
  };
  const origin: Origin = { ...merged.origin, children: origins };
  const where = (...path: (string | number)[]): string => {
    let current: Origin | undefined = origin;
    for (const segment of path) current = current?.children.get(segment);
    return current?.at ?? origin.at;
  };

  const wanted = new Set(treefile.packages.map(packageName));
  treefile['exclude-packages'].forEach((name, i) => {
    if (wanted.has(name)) {
      const j = treefile.packages.findIndex((p) => packageName(p) === name);
      throw invalid(where('exclude-packages', i), `exclude-packages[${i}]: ${name} is also in packages (${where('packages', j)})`,
        'a package can not be both installed and excluded; remove it from one of the lists');
    }
  });

  const dests = new Map<string, number>();
  treefile['add-files'].forEach((file, i) => {
    const earlier = dests.get(file.dest);
    if (earlier !== undefined) {
      throw invalid(where('add-files', i), `add-files[${i}]: ${file.dest} is already added by add-files[${earlier}] (${where('add-files', earlier)})`,
        'each destination may be added once; remove one of the entries');
    }
    dests.set(file.dest, i);
  });

  return { treefile, origin };
}
