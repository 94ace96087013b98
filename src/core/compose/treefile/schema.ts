/**
 * The schema of one treefile as written, the single source of truth for validation and for
 * data/treefile.schema.json. It has no zod defaults: an included treefile's value must not be hidden by a default in
 * its includer, so defaults are applied after merging (defaults.ts), and only documented here.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { describe, quote } from './text.js';
import { BOOTSTRAP_MODES, INITRAMFS_MODES, USERS_MODES, VARIANTS } from './types.js';

type ErrorMap = (issue: z.core.$ZodRawIssue) => string | undefined;

// Every message is the part after "<file>:<line>:<col>: <key path>: ", see issues.ts.
function expected(what: string): ErrorMap {
  return (issue) => (issue.code === 'unrecognized_keys' ? undefined : `expected ${what}, got ${describe(issue.input)}`);
}

function isNot(what: string): ErrorMap {
  return (issue) => `${quote(issue.input)} is not ${what}`;
}

export const PATTERNS = {
  // ostree_validate_rev, as src/core/refspec.ts, and nothing that walks up.
  ref: /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9._-]+)*$/,
  release: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  suite: /^[A-Za-z0-9][A-Za-z0-9._/-]*$/,
  component: /^[A-Za-z0-9][A-Za-z0-9._/-]*$/,
  architecture: /^[a-z0-9][a-z0-9-]*$/,
  repoName: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  uri: /^(?:default|https?:\/\/[^\s/]\S*|file:\/\/\/\S*)$/,
  package: /^[a-z0-9][a-z0-9+.-]+(?:=[0-9][A-Za-z0-9.+~:-]*)?$/,
  packageName: /^[a-z0-9][a-z0-9+.-]+$/,
  unit: /^[A-Za-z0-9:_.@-]+\.(?:service|socket|timer|path|target|mount)$/,
  target: /^[A-Za-z0-9:_.@-]+\.target$/,
  karg: /^[^\s\p{Cc}]+$/u,
  // Absolute, not "/" itself, and no ".." component that could leave the image.
  imagePath: /^(?!(?:.*\/)?\.\.(?:\/|$))\/[^\p{Cc}]+$/u,
  hostPath: /^[^\p{Cc}]+$/u,
  mode: /^0?[0-7]{3,4}$/,
  versionPrefix: /^[A-Za-z0-9][A-Za-z0-9._~+-]*$/,
  script: /\S/,
} as const;

const str = (what = 'a string'): z.ZodString => z.string({ error: expected(what) });
const matching = (pattern: RegExp, what: string, typeWhat?: string): z.ZodString =>
  str(typeWhat).regex(pattern, { error: isNot(what) });
const list = <T extends z.ZodType>(item: T, what: string): z.ZodArray<T> => z.array(item, { error: expected(what) });
const bool = (): z.ZodBoolean => z.boolean({ error: expected('true or false') });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T): z.ZodEnum<{ [K in T[number]]: K }> =>
  z.enum(values);
const hostPath = (what: string): z.ZodString => matching(PATTERNS.hostPath, `a usable path (${what})`, `a path (${what})`);
const stringOrList = (item: z.ZodString, what: string) =>
  z.union([item, list(item, `a list of ${what}`)], { error: expected(`a string or a list of ${what}`) });

const repo = z.strictObject({
  name: matching(PATTERNS.repoName, 'a valid repository name (letters, digits, . _ -)').optional()
    .meta({ description: 'Name of the sources file written into the image; derived from the URI when absent.' }),
  uri: matching(PATTERNS.uri, 'a repository URI: `default`, http(s)://… or file:///…')
    .meta({ description: '`default` (the Debian archive of the host\'s apt sources), an http(s):// URL or a file:/// URL.' }),
  suites: list(matching(PATTERNS.suite, 'a valid suite name'), 'a list of suites').min(1, { error: 'must not be empty' })
    .optional()
    .meta({ description: 'Suites; default [RELEASE, RELEASE-updates] for `uri: default`, [RELEASE] otherwise.' }),
  components: list(matching(PATTERNS.component, 'a valid component name'), 'a list of components')
    .min(1, { error: 'must not be empty' }).optional()
    .meta({ description: 'Archive components.', default: [...DEFAULTS.components] }),
  'signed-by': hostPath('a keyring file').optional()
    .meta({ description: 'Keyring file on the host, relative to the treefile that declares it.' }),
  trusted: bool().optional().meta({ description: 'Skip signature checks for this repository.', default: false }),
}, { error: expected('a repository mapping ({uri, suites, components, …})') });

const addFileObject = z.strictObject({
  src: hostPath('the file to copy'),
  dest: matching(PATTERNS.imagePath, 'an absolute path in the image without ".."'),
  mode: matching(PATTERNS.mode, 'an octal mode like "0644"', 'an octal mode string like "0644"').optional(),
}, { error: expected('a mapping {src, dest, mode}') });
const addFilePair = z.tuple([
  hostPath('the file to copy'),
  matching(PATTERNS.imagePath, 'an absolute path in the image without ".."'),
], { error: expected('a [src, dest] pair') });

const metadataValue = z.union([z.string(), z.number(), z.boolean()], { error: expected('a string, number or boolean') });

export const TreefileSchema = z.strictObject({
  $schema: str().optional()
    .meta({ description: 'Ignored by apt-ostree; lets an editor find this schema (data/treefile.schema.json).' }),
  include: stringOrList(hostPath('a treefile'), 'treefiles').optional()
    .meta({ description: 'Treefiles to merge into this one, relative to this file. Included values come first; this file\'s scalars win.' }),
  ref: matching(PATTERNS.ref, 'a valid OSTree ref (e.g. debian/13/x86_64/base)').optional()
    .meta({ description: 'OSTree branch the compose commits to. Required once includes are merged.', examples: ['debian/13/x86_64/base'] }),
  release: matching(PATTERNS.release, 'a Debian suite or codename').optional()
    .meta({ description: 'Debian suite or codename.', default: DEFAULTS.release }),
  architecture: matching(PATTERNS.architecture, 'a dpkg architecture (e.g. amd64)').optional()
    .meta({ description: 'dpkg architecture; the host\'s when absent.', examples: ['amd64', 'arm64'] }),
  variant: oneOf(VARIANTS).optional().meta({ description: 'mmdebstrap variant.', default: DEFAULTS.variant }),
  'bootstrap-mode': oneOf(BOOTSTRAP_MODES).optional()
    .meta({ description: 'mmdebstrap mode; chrootless only for packages without maintainer scripts.', default: DEFAULTS['bootstrap-mode'] }),
  repos: list(repo, 'a list of repositories').optional()
    .meta({ description: 'Package repositories; default one entry {uri: default}.' }),
  packages: list(matching(PATTERNS.package, 'a valid Debian package name (2 or more of a-z 0-9 + - ., optionally NAME=VERSION)'), 'a list of strings').optional()
    .meta({ description: 'Packages to install (name or name=version).' }),
  'local-debs': list(hostPath('a .deb file').regex(/\.deb$/, { error: 'must be a .deb file (name ending in .deb)' }), 'a list of .deb files').optional()
    .meta({ description: 'Local .deb files installed with the packages (relative to this treefile); their dependencies come from the repos.' }),
  'exclude-packages': list(matching(PATTERNS.packageName, 'a valid Debian package name (2 or more of a-z 0-9 + - .)'), 'a list of strings').optional()
    .meta({ description: 'Packages that must never be installed.' }),
  recommends: bool().optional().meta({ description: 'Install Recommends.', default: DEFAULTS.recommends }),
  documentation: bool().optional()
    .meta({ description: 'Keep man pages, docs and translations.', default: DEFAULTS.documentation }),
  'add-files': list(z.union([addFileObject, addFilePair], { error: expected('a mapping {src, dest, mode} or a [src, dest] pair') }),
    'a list of files to add').optional()
    .meta({ description: 'Host files copied into the image; src relative to this treefile, dest absolute in the image.' }),
  'remove-files': list(matching(PATTERNS.imagePath, 'an absolute path in the image without ".."'), 'a list of paths').optional()
    .meta({ description: 'Paths removed from the image; `*` matches within one path component.' }),
  postprocess: list(str().regex(PATTERNS.script, { error: 'is an empty script' }), 'a list of scripts').optional()
    .meta({ description: 'Inline shell scripts run in the image, in order, before postprocess-script.' }),
  'postprocess-script': stringOrList(hostPath('a script'), 'scripts').optional()
    .meta({ description: 'Script files run in the image, relative to this treefile.' }),
  units: list(matching(PATTERNS.unit, 'a systemd unit name (.service, .socket, .timer, .path, .target or .mount)'), 'a list of units').optional()
    .meta({ description: 'systemd units to enable.' }),
  'default-target': matching(PATTERNS.target, 'a systemd .target unit').optional()
    .meta({ description: 'systemd default target.', examples: ['multi-user.target'] }),
  initramfs: oneOf(INITRAMFS_MODES).optional()
    .meta({ description: 'dracut: regenerate with dracut; packaged: keep what the kernel packages built.', default: DEFAULTS.initramfs }),
  'initramfs-args': list(str(), 'a list of strings').optional().meta({ description: 'Extra dracut arguments.' }),
  'kernel-args': list(matching(PATTERNS.karg, 'a kernel argument (no whitespace)'), 'a list of strings').optional()
    .meta({ description: 'Kernel arguments of the image.' }),
  users: oneOf(USERS_MODES).optional()
    .meta({ description: 'sysusers: system users become sysusers.d entries; image: keep /etc/passwd as built.', default: DEFAULTS.users }),
  metadata: z.record(z.string().min(1, { error: 'metadata keys must not be empty' }), metadataValue,
    { error: expected('a mapping of names to strings, numbers or booleans') }).optional()
    .meta({ description: 'Extra commit metadata.' }),
  'automatic-version-prefix': matching(PATTERNS.versionPrefix, 'a version prefix (e.g. "2026.11")').optional()
    .meta({ description: 'Commit versions become PREFIX.N.', examples: ['2026.11'] }),
  'machineid-compat': bool().optional()
    .meta({ description: 'true: empty /etc/machine-id; false: no /etc/machine-id.', default: DEFAULTS['machineid-compat'] }),
}, { error: expected('a mapping of treefile keys') }).meta({
  title: 'apt-ostree treefile',
  description: 'Describes a Debian OSTree base image for `apt-ostree compose` (docs/treefile.md).',
});

/** One treefile as written, after validation. */
export type RawTreefile = z.output<typeof TreefileSchema>;
export type RawRepo = z.output<typeof repo>;
export type RawAddFile = z.output<typeof addFileObject> | z.output<typeof addFilePair>;
