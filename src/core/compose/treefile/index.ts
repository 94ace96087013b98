/** The treefile of `apt-ostree compose` (docs/treefile.md). */
export { loadTreefile } from './load.js';
export { treefileJsonSchema } from './json-schema.js';
export { TreefileSchema } from './schema.js';
export type {
  BootstrapMode, InitramfsMode, LoadedTreefile, MetadataValue, PostprocessStep, Treefile, TreefileAddFile, TreefileRepo,
  UsersMode, Variant,
} from './types.js';
export { DEFAULT_REPO_URI, DEFAULTS, defaultSuites } from './defaults.js';
