/**
 * A thin, typed wrapper around the D-Bus library (dbus-native, pure JavaScript). It is the only module that imports
 * the library: the daemon and the client see connections, exported interfaces described declaratively, calls,
 * properties and signal subscriptions, with errors as BusError (errors.ts).
 *
 * Values: a{sv} arrive as plain objects and variants as their value. To send a value whose type can not be guessed
 * from JavaScript (an unsigned or 64-bit number inside a variant, an empty array), wrap it with `typed(signature, v)`.
 */
import * as dbus from 'dbus-native';
import type { Message, MessageBus, InterfaceDescriptor, MethodDescriptor } from 'dbus-native';
import { BusError, STANDARD_ERRORS, toErrorReply } from './errors.js';
import type { ArgInfo } from './introspection.js';
import { splitSignature } from './introspection.js';
import { DBUS_PATH, DBUS_SERVICE, PROPERTIES_INTERFACE } from './names.js';

const SIGNAL = 4;
const NO_AUTO_START = 0x2;

/** `system` (honours DBUS_SYSTEM_BUS_ADDRESS), `session` (DBUS_SESSION_BUS_ADDRESS), or a D-Bus address. */
export type BusSpec = string;

export function busAddress(spec: BusSpec = 'system', env: NodeJS.ProcessEnv = process.env): string {
  if (spec === 'system') return env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/run/dbus/system_bus_socket';
  if (spec === 'session') {
    const a = env.DBUS_SESSION_BUS_ADDRESS;
    if (!a) throw new BusError(STANDARD_ERRORS.noServer, 'no session bus: DBUS_SESSION_BUS_ADDRESS is not set');
    return a;
  }
  if (!/^[a-z]+:/.test(spec)) throw new BusError(STANDARD_ERRORS.noServer, `not a bus address: ${spec}`);
  return spec;
}

/** A value with an explicit D-Bus type, for variants and dictionaries whose type JavaScript can not tell. */
export type Typed = dbus.Variant;
export function typed(signature: string, value: unknown): Typed {
  return new dbus.Variant(signature, value);
}

/** Who called, resolved by the bus: the unique name and (GetConnectionUnixUser) the uid of the connection. */
export interface CallContext {
  sender: string;
  uid: number;
  path: string;
  interface: string;
  member: string;
  /** GetConnectionUnixProcessID of the sender, asked on demand. */
  pid(): Promise<number>;
}

export interface MethodSpec {
  in: readonly ArgInfo[];
  out: readonly ArgInfo[];
  /** Receives the arguments in order; returns nothing, the value (one out argument) or an array (several). */
  handler(args: unknown[], call: CallContext): unknown;
}

export interface PropertySpec {
  type: string;
  /** Read on every Get/GetAll (synchronously: keep the value at hand). Properties are read-only. */
  get(): unknown;
}

export interface SignalSpec {
  args: readonly ArgInfo[];
}

export interface InterfaceSpec {
  name: string;
  methods: Record<string, MethodSpec>;
  properties: Record<string, PropertySpec>;
  signals: Record<string, SignalSpec>;
}

export interface ExportedInterface {
  readonly path: string;
  readonly name: string;
  /** Emits a signal of this interface from this object; arguments in the declared order. */
  emit(signal: string, ...args: unknown[]): void;
  /** Announces (org.freedesktop.DBus.Properties.PropertiesChanged) the current values of these properties. */
  propertiesChanged(names: readonly string[]): void;
  unexport(): void;
}

export interface CallTarget {
  destination: string;
  path: string;
  interface: string;
  member: string;
}

export interface CallOptions {
  /** Milliseconds to wait for the reply (default: no limit). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Do not let the bus start (activate) the destination. */
  noAutoStart?: boolean;
}

export interface SignalMatch {
  /** A unique or well-known name; the bus resolves well-known names. */
  sender?: string;
  path?: string;
  /** This path and every path below it. */
  pathNamespace?: string;
  interface?: string;
  member?: string;
  /** The first argument, when it is a string (e.g. the name in NameOwnerChanged). */
  arg0?: string;
}

export interface ReceivedSignal {
  sender: string;
  path: string;
  interface: string;
  member: string;
  args: unknown[];
}

export interface Subscription {
  remove(): Promise<void>;
}

export type RequestNameResult = 'primary-owner' | 'in-queue' | 'exists' | 'already-owner';

export interface RequestNameOptions {
  allowReplacement?: boolean;
  replaceExisting?: boolean;
  /** Fail (`exists`) rather than wait in the queue; the default for daemons. */
  doNotQueue?: boolean;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
}

export function matchRule(m: SignalMatch): string {
  const parts = ["type='signal'"];
  if (m.sender !== undefined) parts.push(`sender=${quote(m.sender)}`);
  if (m.path !== undefined) parts.push(`path=${quote(m.path)}`);
  if (m.pathNamespace !== undefined) parts.push(`path_namespace=${quote(m.pathNamespace)}`);
  if (m.interface !== undefined) parts.push(`interface=${quote(m.interface)}`);
  if (m.member !== undefined) parts.push(`member=${quote(m.member)}`);
  if (m.arg0 !== undefined) parts.push(`arg0=${quote(m.arg0)}`);
  return parts.join(',');
}

function matches(m: SignalMatch, msg: Message): boolean {
  if (msg.type !== SIGNAL) return false;
  const path = msg.path ?? '';
  if (m.sender?.startsWith(':') && msg.sender !== m.sender) return false;
  if (m.path !== undefined && path !== m.path) return false;
  if (m.pathNamespace !== undefined && m.pathNamespace !== '/' && path !== m.pathNamespace &&
      !path.startsWith(`${m.pathNamespace}/`)) return false;
  if (m.interface !== undefined && msg.interface !== m.interface) return false;
  if (m.member !== undefined && msg.member !== m.member) return false;
  if (m.arg0 !== undefined && msg.body?.[0] !== m.arg0) return false;
  return true;
}

const signatureOf = (args: readonly ArgInfo[]): string => args.map((a) => a.type).join('');

function asBusError(err: unknown): Error {
  if (err instanceof dbus.DBusError && typeof err.dbusName === 'string') {
    const body = Array.isArray(err.body) ? err.body : [];
    return new BusError(err.dbusName, typeof body[0] === 'string' ? body[0] : err.message, undefined, { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ECONNCLOSED') {
    return new BusError(STANDARD_ERRORS.disconnected, 'the bus connection closed', undefined, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** A connection to a message bus. */
export class Bus {
  private readonly closeHandlers = new Set<(err?: Error) => void>();
  private closed = false;

  private constructor(private readonly bus: MessageBus, readonly address: string) {
    const conn = bus.connection;
    const onClose = (err?: Error): void => {
      if (this.closed) return;
      this.closed = true;
      for (const h of this.closeHandlers) h(err);
    };
    conn.on('error', (err: Error) => { onClose(err); });
    conn.on('close', () => { onClose(); });
    conn.on('end', () => { onClose(); });
    conn.on('handlerError', (err: Error) => {
      process.stderr.write(`apt-ostree: D-Bus handler failed: ${err.stack ?? err.message}\n`);
    });
  }

  /** Connects and says Hello; fails with BusError NoServer when the bus can not be reached. */
  static async connect(spec: BusSpec = 'system', opts: { timeoutMs?: number } = {}): Promise<Bus> {
    const address = busAddress(spec);
    const raw = dbus.createClient({ busAddress: address, plainValues: true, authMethods: ['EXTERNAL'] });
    const failed = new Promise<never>((_, reject) => {
      const fail = (err?: Error): void => {
        reject(new BusError(STANDARD_ERRORS.noServer,
          `cannot connect to the D-Bus bus at ${address}${err ? `: ${err.message}` : ''}`, undefined, { cause: err }));
      };
      raw.connection.once('error', fail);
      raw.connection.once('close', fail);
    });
    failed.catch(() => undefined);
    const bus = new Bus(raw, address);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new BusError(STANDARD_ERRORS.noServer, `no answer from the D-Bus bus at ${address} in ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      // Hello is the first message on the connection, so once GetId is answered the unique name is known.
      await Promise.race([raw.invokeDbus({ member: 'GetId' }), failed, timeout]);
    } catch (err) {
      raw.connection.end();
      throw asBusError(err);
    } finally {
      clearTimeout(timer);
    }
    return bus;
  }

  /** This connection's unique name (`:1.42`). */
  get uniqueName(): string {
    return this.bus.name ?? '';
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called once when the connection goes away (the bus stopped, or close()). */
  onClose(handler: (err?: Error) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  async close(): Promise<void> {
    await this.bus.close();
  }

  async requestName(name: string, opts: RequestNameOptions = {}): Promise<RequestNameResult> {
    const flags = (opts.allowReplacement ? 1 : 0) | (opts.replaceExisting ? 2 : 0) | (opts.doNotQueue ? 4 : 0);
    const r = await this.callBus<number>('RequestName', 'su', [name, flags]);
    const results: Record<number, RequestNameResult> = { 1: 'primary-owner', 2: 'in-queue', 3: 'exists', 4: 'already-owner' };
    const result = results[r];
    if (result === undefined) throw new BusError(STANDARD_ERRORS.failed, `RequestName answered ${r}`);
    return result;
  }

  async releaseName(name: string): Promise<void> {
    await this.callBus('ReleaseName', 's', [name]);
  }

  /** The uid of a connection (org.freedesktop.DBus.GetConnectionUnixUser). */
  async connectionUid(name: string): Promise<number> {
    return this.callBus<number>('GetConnectionUnixUser', 's', [name]);
  }

  async connectionPid(name: string): Promise<number> {
    return this.callBus<number>('GetConnectionUnixProcessID', 's', [name]);
  }

  async nameHasOwner(name: string): Promise<boolean> {
    return this.callBus<boolean>('NameHasOwner', 's', [name]);
  }

  /** The unique name owning a name, or undefined. */
  async nameOwner(name: string): Promise<string | undefined> {
    try {
      return await this.callBus<string>('GetNameOwner', 's', [name]);
    } catch (err) {
      if (err instanceof BusError && err.dbusName === STANDARD_ERRORS.nameHasNoOwner) return undefined;
      throw err;
    }
  }

  async listActivatableNames(): Promise<string[]> {
    return this.callBus<string[]>('ListActivatableNames', '', []);
  }

  /** Whether a call to this name can reach someone: owned now, or activatable by the bus. */
  async isReachable(name: string): Promise<boolean> {
    return (await this.nameHasOwner(name)) || (await this.listActivatableNames()).includes(name);
  }

  private async callBus<T>(member: string, signature: string, body: unknown[]): Promise<T> {
    const [value] = await this.call({ destination: DBUS_SERVICE, path: DBUS_PATH, interface: DBUS_SERVICE, member },
      signature, body);
    return value as T;
  }

  /** Calls a method and resolves with the reply's body (every out argument, in order). */
  call(target: CallTarget, signature: string, args: readonly unknown[], opts: CallOptions = {}): Promise<unknown[]> {
    const msg: Message = {
      destination: target.destination, path: target.path, interface: target.interface, member: target.member,
      ...(signature ? { signature, body: [...args] } : {}),
      ...(opts.noAutoStart ? { flags: NO_AUTO_START } : {}),
    };
    const callOpts = { ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}) };
    return new Promise((resolve, reject) => {
      this.bus.invoke(msg, callOpts, (err, ...values: unknown[]) => {
        if (err) reject(asBusError(err));
        else resolve(values);
      });
    });
  }

  async getProperty(destination: string, path: string, iface: string, name: string, opts: CallOptions = {}): Promise<unknown> {
    const [value] = await this.call({ destination, path, interface: PROPERTIES_INTERFACE, member: 'Get' }, 'ss',
      [iface, name], opts);
    return value;
  }

  async getAllProperties(destination: string, path: string, iface: string, opts: CallOptions = {}):
    Promise<Record<string, unknown>> {
    const [value] = await this.call({ destination, path, interface: PROPERTIES_INTERFACE, member: 'GetAll' }, 's',
      [iface], opts);
    return (value ?? {}) as Record<string, unknown>;
  }

  /** Adds a match rule and calls the handler for every matching signal; resolves once the bus routes them. */
  async subscribe(match: SignalMatch, handler: (signal: ReceivedSignal) => void): Promise<Subscription> {
    const rule = matchRule(match);
    const listener = (msg: Message): void => {
      if (!matches(match, msg)) return;
      handler({ sender: msg.sender ?? '', path: msg.path ?? '', interface: msg.interface ?? '', member: msg.member ?? '',
        args: msg.body ?? [] });
    };
    this.bus.connection.on('message', listener);
    try {
      await this.bus.addMatch(rule);
    } catch (err) {
      this.bus.connection.off('message', listener);
      throw asBusError(err);
    }
    let removed = false;
    return {
      remove: async () => {
        if (removed) return;
        removed = true;
        this.bus.connection.off('message', listener);
        if (!this.closed) await this.bus.removeMatch(rule).then(undefined, () => undefined);
      },
    };
  }

  /** Calls the handler with the new owner ('' when the name is gone) whenever a name changes hands. */
  watchNameOwner(name: string, handler: (newOwner: string) => void): Promise<Subscription> {
    return this.subscribe({ sender: DBUS_SERVICE, path: DBUS_PATH, interface: DBUS_SERVICE, member: 'NameOwnerChanged',
      arg0: name }, (s) => { handler(typeof s.args[2] === 'string' ? s.args[2] : ''); });
  }

  /**
   * Calls the handler once when a name (typically a client's unique name) leaves the bus — also when it already
   * left before the watch was in place.
   */
  async onNameVanished(name: string, handler: () => void): Promise<Subscription> {
    let fired = false;
    const fire = (): void => {
      if (fired) return;
      fired = true;
      void sub.remove();
      handler();
    };
    const sub = await this.watchNameOwner(name, (owner) => { if (owner === '') fire(); });
    if (!(await this.nameHasOwner(name))) fire();
    return sub;
  }

  /** Serves an interface at a path. Each call resolves the caller's uid before the handler runs. */
  exportInterface(path: string, spec: InterfaceSpec): ExportedInterface {
    const methods: Record<string, MethodDescriptor> = {};
    const impl: Record<string, unknown> = {};
    for (const [name, m] of Object.entries(spec.methods)) {
      const inSig = signatureOf(m.in);
      const outSig = signatureOf(m.out);
      methods[name] = [inSig, outSig, m.in.map((a) => a.name), m.out.map((a) => a.name)];
      impl[name] = (...received: unknown[]): Promise<unknown> => {
        const msg = received.at(-1) as Message;
        return this.dispatch(spec.name, name, m, inSig, received.slice(0, -1), msg);
      };
    }
    const properties: Record<string, { type: string; access: 'read' }> = {};
    for (const [name, p] of Object.entries(spec.properties)) {
      properties[name] = { type: p.type, access: 'read' };
      Object.defineProperty(impl, name, { enumerable: true, get: () => p.get() });
    }
    const signals: Record<string, string[]> = {};
    for (const [name, s] of Object.entries(spec.signals)) signals[name] = [signatureOf(s.args), ...s.args.map((a) => a.name)];
    const descriptor: InterfaceDescriptor = { name: spec.name, methods, properties, signals };
    this.bus.exportInterface(impl, path, descriptor);

    return {
      path,
      name: spec.name,
      emit: (signal, ...args) => {
        const s = spec.signals[signal];
        if (!s) throw new Error(`${spec.name} has no signal ${signal}`);
        if (args.length !== s.args.length) {
          throw new Error(`${spec.name}.${signal} takes ${s.args.length} arguments, not ${args.length}`);
        }
        if (this.closed) return;
        this.bus.sendSignal(path, spec.name, signal, signatureOf(s.args), args);
      },
      propertiesChanged: (names) => {
        if (this.closed || names.length === 0) return;
        const changed: Record<string, unknown> = {};
        for (const n of names) {
          const p = spec.properties[n];
          if (!p) throw new Error(`${spec.name} has no property ${n}`);
          changed[n] = p.get();
        }
        this.bus.emitPropertiesChanged(path, spec.name, changed);
      },
      unexport: () => { this.bus.unexportInterface(path, spec.name); },
    };
  }

  private async dispatch(iface: string, member: string, m: MethodSpec, inSig: string, args: unknown[], msg: Message):
    Promise<unknown> {
    try {
      if ((msg.signature ?? '') !== inSig) {
        throw new BusError(STANDARD_ERRORS.invalidArgs,
          `${iface}.${member} takes (${inSig}), not (${msg.signature ?? ''})`);
      }
      const sender = msg.sender;
      if (!sender) throw new BusError(STANDARD_ERRORS.accessDenied, 'calls without a sender (peer-to-peer) are not served');
      const uid = await this.connectionUid(sender);
      const call: CallContext = {
        sender, uid, path: msg.path ?? '', interface: iface, member,
        pid: () => this.connectionPid(sender),
      };
      const result = await m.handler(args, call);
      if (m.out.length === 0) return null;
      if (m.out.length > 1 && (!Array.isArray(result) || result.length !== m.out.length)) {
        throw new Error(`${iface}.${member} must return ${m.out.length} values`);
      }
      return result;
    } catch (err) {
      // dbus-native replies with the error's dbusName and message.
      const reply = toErrorReply(err);
      throw Object.assign(new Error(reply.text), { dbusName: reply.name });
    }
  }
}

export function connectBus(spec: BusSpec = 'system', opts: { timeoutMs?: number } = {}): Promise<Bus> {
  return Bus.connect(spec, opts);
}

/** The complete types of a signature (`a{sv}as` → [`a{sv}`, `as`]); throws on an invalid one. */
export function completeTypes(signature: string): string[] {
  const types = splitSignature(signature);
  if (!types) throw new Error(`invalid D-Bus signature ${signature}`);
  return types;
}
