/**
 * The normalized treefile: what `apt-ostree compose` builds from, after includes are merged, defaults applied and
 * every host path made absolute. Keys keep the treefile's own kebab-case spelling so that `where()` paths, error
 * messages and docs/treefile.md all use the same names.
 */

export const VARIANTS = [
  'extract', 'custom', 'essential', 'apt', 'required', 'minbase', 'buildd', 'important', 'debootstrap', 'standard',
] as const;
export type Variant = (typeof VARIANTS)[number];

export const BOOTSTRAP_MODES = ['root', 'chrootless'] as const;
export type BootstrapMode = (typeof BOOTSTRAP_MODES)[number];

export const INITRAMFS_MODES = ['dracut', 'packaged'] as const;
export type InitramfsMode = (typeof INITRAMFS_MODES)[number];

export const USERS_MODES = ['sysusers', 'image'] as const;
export type UsersMode = (typeof USERS_MODES)[number];

export type MetadataValue = string | number | boolean;

export interface TreefileRepo {
  name?: string;
  /** `default` (the Debian archive of the host's apt sources, resolved by the pipeline), http(s):// or file:/// */
  uri: string;
  suites: string[];
  components: string[];
  /** Absolute path of a keyring on the host. */
  'signed-by'?: string;
  trusted: boolean;
}

export interface TreefileAddFile {
  /** Absolute path on the host (checked to exist when the treefile was loaded). */
  src: string;
  /** Absolute path in the image. */
  dest: string;
  /** Octal, as written (e.g. "0644"). */
  mode?: string;
}

export type PostprocessStep =
  | { kind: 'inline'; text: string; where: string }
  | { kind: 'file'; path: string; where: string };

export interface Treefile {
  ref: string;
  release: string;
  /** undefined: the host's architecture, resolved by the pipeline. */
  architecture?: string;
  variant: Variant;
  'bootstrap-mode': BootstrapMode;
  repos: TreefileRepo[];
  packages: string[];
  /** Absolute paths of local .deb files installed with the packages. */
  'local-debs': string[];
  'exclude-packages': string[];
  recommends: boolean;
  documentation: boolean;
  'add-files': TreefileAddFile[];
  'remove-files': string[];
  /** `postprocess` then `postprocess-script` of each treefile, included treefiles first. */
  postprocess: PostprocessStep[];
  units: string[];
  'default-target'?: string;
  initramfs: InitramfsMode;
  'initramfs-args': string[];
  'kernel-args': string[];
  users: UsersMode;
  metadata: Record<string, MetadataValue>;
  'automatic-version-prefix'?: string;
  'machineid-compat': boolean;
}

export interface LoadedTreefile {
  /** Normalized, includes merged, paths absolute. */
  treefile: Treefile;
  /** Every treefile read (absolute paths, the top one first), for hashing. */
  files: string[];
  /**
   * "file:line:col" of a value of `treefile`, e.g. where(['packages', 3]) for the 4th merged package;
   * undefined for defaults and anything else that was not written in a treefile.
   */
  where(path: readonly (string | number)[]): string | undefined;
}
