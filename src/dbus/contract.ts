import { readFileSync } from 'node:fs';
import type { DeploymentStatus } from '../core/ops/status.js';
import { typed, type Bus, type CallContext, type CallOptions, type InterfaceSpec, type MethodSpec, type PropertySpec,
  type ReceivedSignal, type SignalSpec, type Subscription, type Typed } from './bus.js';
import { BusError, STANDARD_ERRORS } from './errors.js';
import { parseIntrospection, type InterfaceInfo, type MethodInfo } from './introspection.js';
import { BUS_NAME, INTERFACES, PROPERTIES_INTERFACE, type InterfaceName } from './names.js';

/**
 * The contract, data/dbus/org.aptostree.AptOstree1.xml, as data: the daemon exports its interfaces from it and the
 * client calls them through it, so neither can drift from the file. The bundles carry the XML as a string (build.mjs
 * defines __APT_OSTREE_DBUS_CONTRACT__ from the file); run from the sources, it is read from data/.
 */
declare const __APT_OSTREE_DBUS_CONTRACT__: string | undefined;

export const CONTRACT_FILE = 'data/dbus/org.aptostree.AptOstree1.xml';

function loadContract(): string {
  if (typeof __APT_OSTREE_DBUS_CONTRACT__ === 'string') return __APT_OSTREE_DBUS_CONTRACT__;
  return readFileSync(new URL(`../../${CONTRACT_FILE}`, import.meta.url), 'utf8');
}

export const CONTRACT_XML: string = loadContract();
export const CONTRACT: readonly InterfaceInfo[] = parseIntrospection(CONTRACT_XML);

export function contractInterface(name: InterfaceName): InterfaceInfo {
  const found = CONTRACT.find((i) => i.name === name);
  if (!found) throw new Error(`the D-Bus contract has no interface ${name}`);
  return found;
}

for (const name of INTERFACES) contractInterface(name);

function contractMethod(iface: InterfaceName, member: string): MethodInfo {
  const m = contractInterface(iface).methods.find((x) => x.name === member);
  if (!m) throw new Error(`${iface} has no method ${member}`);
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Dictionaries (a{sv}): the keys each one may hold and their types. Options and modifiers arriving at the daemon are
// checked against these (unknown key or wrong type: InvalidArgs); dictionaries going out are typed with them.

export type DictSchema = Readonly<Record<string, string>>;

/** The a{sv} arguments of the contract's methods, by `Interface-suffix.Member.argument`. */
export const ARGUMENT_DICTS: Readonly<Record<string, DictSchema>> = {
  'Sysroot.RegisterClient.options': { id: 's' },
  'Sysroot.UnregisterClient.options': {},
  'OS.Upgrade.options': { 'allow-downgrade': 'b', check: 'b', preview: 'b' },
  'OS.Deploy.options': {},
  'OS.Rebase.options': { revision: 's' },
  'OS.Rollback.options': {},
  'OS.PkgChange.options': { 'uninstall-all': 'b', 'dry-run': 'b', idempotent: 'b', 'allow-inactive': 'b', cwd: 's' },
  'OS.UpdateDeployment.modifiers': {
    'override-remove': 'as', 'override-replace': 'as', 'override-reset': 'as', 'override-reset-all': 'b',
    'reset-overlays': 'b', 'reset-overrides': 'b', 'reset-initramfs': 'b',
  },
  'OS.UpdateDeployment.options': { 'dry-run': 'b', cwd: 's' },
  'OS.KernelArgs.options': { 'append-if-missing': 'as', 'delete-if-present': 'as', set: 'as', 'deploy-index': 'u' },
  'OS.SetInitramfsState.options': {},
  'OS.Cleanup.options': {},
  'OS.RefreshMd.options': { force: 'b' },
  'OS.Pin.options': {},
  'OS.UsrOverlay.options': { hotfix: 'b' },
  'OS.ApplyLive.options': { 'allow-replacement': 'b' },
  'OS.AutomaticUpdateTrigger.options': { mode: 's' },
  'OS.ListPackages.options': { pattern: 's', 'deploy-index': 'u' },
  'OS.GetPackages.options': { pattern: 's' },
};

/** A deployment, with the keys of `status --json` (nullable ones left out when null). */
export const DEPLOYMENT_DICT = {
  id: 's', osname: 's', serial: 'i', checksum: 's', version: 's', timestamp: 't', booted: 'b', staged: 'b',
  pinned: 'b', rollback: 'b', origin: 's', 'base-checksum': 's', 'requested-packages': 'as', packages: 'as',
  'inactive-requests': 'as', 'layered-packages': 'a(ss)', 'base-removals': 'as', 'base-replacements': 'as',
  kargs: 'as', index: 'u', 'regenerate-initramfs': 'b', 'initramfs-args': 'as', unlocked: 's', 'live-inprogress': 's',
  'live-replaced': 's',
} as const satisfies Record<keyof DeploymentStatus, string>;

export const STATUS_DICT: DictSchema = {
  version: 's', pid: 'u', 'uptime-seconds': 't', sysroot: 's', clients: 'as', 'active-transaction': '(sso)',
  'idle-exit-timeout': 'u', 'automatic-update-policy': 's', 'lock-layering': 'b', polkit: 'b',
};
export const PROGRESS_DICT: DictSchema = {
  task: 's', message: 's', percent: 'u', 'download-title': 's', 'bytes-done': 't', 'bytes-total': 't',
  'bytes-per-second': 't',
};
export const OUTCOME_DICT: DictSchema = {
  success: 'b', 'error-code': 's', 'error-message': 's', 'error-hint': 's', result_json: 's',
};
export const CACHED_UPDATE_DICT: DictSchema = { result_json: 's', 'checked-at': 't' };
export const BOOTCONFIG_DICT: DictSchema = { kargs: 'as' };

/** An a{sv} to send: every present value typed from the schema; undefined and null values are left out. */
export function encodeDict(schema: DictSchema, values: Readonly<Record<string, unknown>>): Record<string, Typed> {
  const out: Record<string, Typed> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    const type = schema[key];
    if (type === undefined) throw new Error(`unknown dictionary key ${key}`);
    out[key] = typed(type, value);
  }
  return out;
}

function matchesType(type: string, value: unknown): boolean {
  switch (type) {
    case 's': case 'o': case 'g': return typeof value === 'string';
    case 'b': return typeof value === 'boolean';
    case 'y': case 'q': case 'u': case 't': return typeof value === 'number' && Number.isInteger(value) && value >= 0;
    case 'n': case 'i': case 'x': return typeof value === 'number' && Number.isInteger(value);
    case 'd': return typeof value === 'number';
    case 'as': return Array.isArray(value) && value.every((v) => typeof v === 'string');
    default: return value !== undefined;
  }
}

/**
 * Checks a received a{sv} against its schema: unknown keys and values of the wrong type fail with InvalidArgs (the
 * caller sees which). Returns the dictionary as a plain object.
 */
export function checkDict(schema: DictSchema, value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BusError(STANDARD_ERRORS.invalidArgs, `${what}: expected a dictionary`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const type = schema[key];
    if (type === undefined) {
      const known = Object.keys(schema);
      throw new BusError(STANDARD_ERRORS.invalidArgs, `${what}: unknown key "${key}"`,
        known.length > 0 ? `known keys: ${known.join(', ')}` : 'this dictionary takes no keys yet');
    }
    if (!matchesType(type, v)) throw new BusError(STANDARD_ERRORS.invalidArgs, `${what}: "${key}" must be of type ${type}`);
    out[key] = v;
  }
  return out;
}

/** The schema of a method's a{sv} argument, or undefined when the argument is not a dictionary of the contract. */
export function argumentDict(iface: InterfaceName, member: string, arg: string): DictSchema | undefined {
  return ARGUMENT_DICTS[`${iface.slice(BUS_NAME.length + 1)}.${member}.${arg}`];
}

export function encodeDeployment(d: DeploymentStatus): Record<string, Typed> {
  return encodeDict(DEPLOYMENT_DICT, { ...d, 'layered-packages': d['layered-packages'].map((p) => [p.name, p.version]) });
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const bool = (v: unknown): boolean => v === true;
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const nullable = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A deployment read from the bus, back to the shape status --json prints; undefined for an empty dictionary. */
export function decodeDeployment(value: unknown): DeploymentStatus | undefined {
  if (typeof value !== 'object' || value === null || Object.keys(value).length === 0) return undefined;
  const d = value as Record<string, unknown>;
  const layered = Array.isArray(d['layered-packages']) ? d['layered-packages'] as unknown[] : [];
  return {
    id: str(d.id),
    osname: str(d.osname),
    serial: num(d.serial),
    checksum: str(d.checksum),
    version: nullable(d.version),
    timestamp: num(d.timestamp),
    booted: bool(d.booted),
    staged: bool(d.staged),
    pinned: bool(d.pinned),
    rollback: bool(d.rollback),
    origin: nullable(d.origin),
    'base-checksum': nullable(d['base-checksum']),
    'requested-packages': strs(d['requested-packages']),
    packages: strs(d.packages),
    'inactive-requests': strs(d['inactive-requests']),
    'layered-packages': layered.map((p) => {
      const [name, version] = Array.isArray(p) ? p as unknown[] : [];
      return { name: str(name), version: str(version) };
    }),
    'base-removals': strs(d['base-removals']),
    'base-replacements': strs(d['base-replacements']),
    kargs: strs(d.kargs),
    index: num(d.index),
    'regenerate-initramfs': bool(d['regenerate-initramfs']),
    'initramfs-args': strs(d['initramfs-args']),
    unlocked: UNLOCKED_STATES.find((u) => u === d.unlocked) ?? 'none',
    'live-inprogress': nullable(d['live-inprogress']),
    'live-replaced': nullable(d['live-replaced']),
  };
}

const UNLOCKED_STATES = ['none', 'development', 'transient', 'hotfix'] as const;

// ---------------------------------------------------------------------------------------------------------------
// Serving: an InterfaceSpec for bus.ts built from the contract and an implementation.

export type MethodHandler = (args: unknown[], call: CallContext) => unknown;

export interface InterfaceImpl {
  methods: Readonly<Record<string, MethodHandler>>;
  properties: Readonly<Record<string, () => unknown>>;
}

/**
 * The InterfaceSpec of a contract interface. Every method and property of the contract must be implemented and
 * nothing else may be (so the daemon exposes exactly the XML) — unless `partial`, for tests, which exports only what
 * is implemented. a{sv} arguments with a schema are checked before the handler runs.
 */
export function implementInterface(name: InterfaceName, impl: InterfaceImpl, opts: { partial?: boolean } = {}): InterfaceSpec {
  const info = contractInterface(name);
  const extra = [
    ...Object.keys(impl.methods).filter((m) => !info.methods.some((x) => x.name === m)),
    ...Object.keys(impl.properties).filter((p) => !info.properties.some((x) => x.name === p)),
  ];
  if (extra.length > 0) throw new Error(`${name} has no member ${extra.join(', ')} in the contract`);
  const missing = [
    ...info.methods.filter((m) => !Object.hasOwn(impl.methods, m.name)).map((m) => m.name),
    ...info.properties.filter((p) => !Object.hasOwn(impl.properties, p.name)).map((p) => p.name),
  ];
  if (missing.length > 0 && !opts.partial) throw new Error(`${name}: the implementation lacks ${missing.join(', ')}`);

  const methods: Record<string, MethodSpec> = {};
  for (const m of info.methods) {
    const handler = impl.methods[m.name];
    if (!handler) continue;
    const dicts = m.in.map((a) => (a.type === 'a{sv}' ? argumentDict(name, m.name, a.name) : undefined));
    methods[m.name] = {
      in: m.in,
      out: m.out,
      handler: (args, call) => {
        const checked = args.map((v, i) => {
          const schema = dicts[i];
          return schema ? checkDict(schema, v, `${m.name}(${m.in[i]?.name ?? i})`) : v;
        });
        return handler(checked, call);
      },
    };
  }
  const properties: Record<string, PropertySpec> = {};
  for (const p of info.properties) {
    const get = impl.properties[p.name];
    if (get) properties[p.name] = { type: p.type, get };
  }
  const signals: Record<string, SignalSpec> = {};
  for (const s of info.signals) signals[s.name] = { args: s.args };
  return { name, methods, properties, signals };
}

// ---------------------------------------------------------------------------------------------------------------
// Calling: a remote object of the contract.

/** One of apt-ostreed's objects seen from a client: calls typed from the contract, properties, signals. */
export class RemoteObject {
  constructor(readonly bus: Bus, readonly path: string, readonly iface: InterfaceName,
    readonly destination: string = BUS_NAME) {}

  /** Calls a method of the contract; a{sv} arguments given as plain objects are typed from their schema. */
  async call(member: string, args: readonly unknown[], opts: CallOptions = {}): Promise<unknown[]> {
    const m = contractMethod(this.iface, member);
    if (args.length !== m.in.length) throw new Error(`${this.iface}.${member} takes ${m.in.length} arguments`);
    const body = m.in.map((a, i) => {
      const v = args[i];
      const schema = a.type === 'a{sv}' ? argumentDict(this.iface, member, a.name) : undefined;
      return schema && typeof v === 'object' && v !== null ? encodeDict(schema, v as Record<string, unknown>) : v;
    });
    return this.bus.call({ destination: this.destination, path: this.path, interface: this.iface, member },
      m.in.map((a) => a.type).join(''), body, opts);
  }

  get(property: string, opts: CallOptions = {}): Promise<unknown> {
    return this.bus.getProperty(this.destination, this.path, this.iface, property, opts);
  }

  getAll(opts: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.bus.getAllProperties(this.destination, this.path, this.iface, opts);
  }

  /** Every signal of this interface from this object. */
  onSignal(handler: (member: string, args: unknown[], signal: ReceivedSignal) => void): Promise<Subscription> {
    return this.bus.subscribe({ sender: this.destination, path: this.path, interface: this.iface },
      (s) => { handler(s.member, s.args, s); });
  }

  /** PropertiesChanged of this interface on this object: the changed values (and invalidated names). */
  onPropertiesChanged(handler: (changed: Record<string, unknown>, invalidated: string[]) => void): Promise<Subscription> {
    return this.bus.subscribe({ sender: this.destination, path: this.path, interface: PROPERTIES_INTERFACE,
      member: 'PropertiesChanged', arg0: this.iface }, (s) => {
      const changed = (typeof s.args[1] === 'object' && s.args[1] !== null ? s.args[1] : {}) as Record<string, unknown>;
      handler(changed, strs(s.args[2]));
    });
  }
}
