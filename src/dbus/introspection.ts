import { childrenNamed, parseXml, type XmlElement } from './xml.js';

/**
 * D-Bus introspection data as a typed model, read with the rules GDBus applies (g_dbus_node_info_new_for_xml):
 * a <node> root, named interfaces and members, valid names, every <arg> a single complete type, method arguments
 * `in` or `out`, signal arguments without a direction (or `out`), property access read/write/readwrite, and
 * annotations with a name and a value. Unknown elements are refused rather than ignored, so a typo can not hide.
 */
export interface ArgInfo {
  name: string;
  type: string;
}

export interface MemberDoc {
  /** The org.gtk.GDBus.DocString annotation, if any. */
  doc: string | undefined;
  annotations: Record<string, string>;
}

export interface MethodInfo extends MemberDoc {
  name: string;
  in: ArgInfo[];
  out: ArgInfo[];
}

export interface SignalInfo extends MemberDoc {
  name: string;
  args: ArgInfo[];
}

export type PropertyAccess = 'read' | 'write' | 'readwrite';

export interface PropertyInfo extends MemberDoc {
  name: string;
  type: string;
  access: PropertyAccess;
}

export interface InterfaceInfo extends MemberDoc {
  name: string;
  methods: MethodInfo[];
  signals: SignalInfo[];
  properties: PropertyInfo[];
}

export const DOC_ANNOTATION = 'org.gtk.GDBus.DocString';

const ELEMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Interface and error names: two or more dot-separated elements, not starting with a digit, at most 255 bytes. */
export function isValidInterfaceName(name: string): boolean {
  const parts = name.split('.');
  return name.length <= 255 && parts.length >= 2 && parts.every((p) => ELEMENT.test(p));
}

export function isValidMemberName(name: string): boolean {
  return name.length <= 255 && ELEMENT.test(name);
}

/** A bus name: well-known (elements may contain '-', none may start with a digit) or unique (':1.42'). */
export function isValidBusName(name: string): boolean {
  if (name.length > 255) return false;
  if (name.startsWith(':')) return /^:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(name);
  const parts = name.split('.');
  return parts.length >= 2 && parts.every((p) => /^[A-Za-z_-][A-Za-z0-9_-]*$/.test(p));
}

export function isValidObjectPath(path: string): boolean {
  return path === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(path);
}

const BASIC = 'ybnqiuxtdhsog';

/**
 * Splits a signature into its complete types, or returns undefined when it is not a valid signature
 * (unknown codes, unbalanced brackets, dict entries outside arrays or with a non-basic key, empty structs,
 * more than 32 nested arrays or structs, longer than 255 bytes).
 */
export function splitSignature(signature: string): string[] | undefined {
  if (signature.length > 255) return undefined;
  let i = 0;
  const one = (arrays: number, structs: number, inArray: boolean): boolean => {
    const c = signature.charAt(i);
    if (c === '') return false;
    if (BASIC.includes(c) || c === 'v') {
      i++;
      return true;
    }
    if (c === 'a') {
      if (arrays >= 32) return false;
      i++;
      return one(arrays + 1, structs, true);
    }
    if (c === '(') {
      if (structs >= 32) return false;
      i++;
      let n = 0;
      while (signature.charAt(i) !== ')') {
        if (i >= signature.length || !one(arrays, structs + 1, false)) return false;
        n++;
      }
      i++;
      return n > 0;
    }
    if (c === '{') {
      if (!inArray) return false;
      i++;
      if (!BASIC.includes(signature.charAt(i)) || signature.charAt(i) === '') return false;
      i++;
      if (!one(arrays, structs + 1, false)) return false;
      if (signature.charAt(i) !== '}') return false;
      i++;
      return true;
    }
    return false;
  };
  const types: string[] = [];
  while (i < signature.length) {
    const start = i;
    if (!one(0, 0, false)) return undefined;
    types.push(signature.slice(start, i));
  }
  return types;
}

export function isSingleCompleteType(signature: string): boolean {
  return splitSignature(signature)?.length === 1;
}

class IntrospectionError extends Error {
  constructor(message: string, el: XmlElement) {
    super(`introspection data, line ${el.line}: ${message}`);
    this.name = 'IntrospectionError';
  }
}

function attr(el: XmlElement, name: string, required = true): string {
  const value = el.attributes[name];
  if (value === undefined) {
    if (required) throw new IntrospectionError(`<${el.name}> needs a ${name} attribute`, el);
    return '';
  }
  return value;
}

function onlyChildren(el: XmlElement, allowed: string[]): void {
  for (const c of el.children) {
    if (!allowed.includes(c.name)) throw new IntrospectionError(`<${c.name}> is not allowed in <${el.name}>`, c);
  }
  if (el.text.trim() !== '') throw new IntrospectionError(`text is not allowed in <${el.name}>`, el);
}

function annotations(el: XmlElement): MemberDoc {
  const out: Record<string, string> = {};
  for (const a of childrenNamed(el, 'annotation')) {
    onlyChildren(a, ['annotation']);
    const name = attr(a, 'name');
    if (Object.hasOwn(out, name)) throw new IntrospectionError(`annotation ${name} given twice`, a);
    out[name] = attr(a, 'value');
  }
  return { doc: out[DOC_ANNOTATION], annotations: out };
}

function arg(el: XmlElement): ArgInfo {
  onlyChildren(el, ['annotation']);
  const type = attr(el, 'type');
  if (!isSingleCompleteType(type)) throw new IntrospectionError(`"${type}" is not a single complete type`, el);
  return { name: attr(el, 'name', false), type };
}

function uniqueNames(el: XmlElement, kind: string, names: string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new IntrospectionError(`${kind} ${n} declared twice`, el);
    seen.add(n);
  }
}

function parseInterface(el: XmlElement): InterfaceInfo {
  onlyChildren(el, ['method', 'signal', 'property', 'annotation']);
  const name = attr(el, 'name');
  if (!isValidInterfaceName(name)) throw new IntrospectionError(`invalid interface name ${name}`, el);
  const memberName = (m: XmlElement): string => {
    const n = attr(m, 'name');
    if (!isValidMemberName(n)) throw new IntrospectionError(`invalid member name ${n}`, m);
    return n;
  };
  const methods = childrenNamed(el, 'method').map((m): MethodInfo => {
    onlyChildren(m, ['arg', 'annotation']);
    const ins: ArgInfo[] = [];
    const outs: ArgInfo[] = [];
    for (const a of childrenNamed(m, 'arg')) {
      const direction = a.attributes.direction ?? 'in';
      if (direction !== 'in' && direction !== 'out') throw new IntrospectionError(`direction "${direction}"`, a);
      (direction === 'in' ? ins : outs).push(arg(a));
    }
    return { name: memberName(m), in: ins, out: outs, ...annotations(m) };
  });
  const signals = childrenNamed(el, 'signal').map((s): SignalInfo => {
    onlyChildren(s, ['arg', 'annotation']);
    const args = childrenNamed(s, 'arg').map((a) => {
      const direction = a.attributes.direction;
      if (direction !== undefined && direction !== 'out') {
        throw new IntrospectionError('signal arguments have no direction (or "out")', a);
      }
      return arg(a);
    });
    return { name: memberName(s), args, ...annotations(s) };
  });
  const properties = childrenNamed(el, 'property').map((p): PropertyInfo => {
    onlyChildren(p, ['annotation']);
    const type = attr(p, 'type');
    if (!isSingleCompleteType(type)) throw new IntrospectionError(`"${type}" is not a single complete type`, p);
    const access = attr(p, 'access');
    if (access !== 'read' && access !== 'write' && access !== 'readwrite') {
      throw new IntrospectionError(`property access "${access}"`, p);
    }
    return { name: memberName(p), type, access, ...annotations(p) };
  });
  uniqueNames(el, 'method', methods.map((m) => m.name));
  uniqueNames(el, 'signal', signals.map((s) => s.name));
  uniqueNames(el, 'property', properties.map((p) => p.name));
  return { name, methods, signals, properties, ...annotations(el) };
}

/** The interfaces of a <node> document (child <node>s are accepted and skipped). */
export function parseIntrospection(xml: string): InterfaceInfo[] {
  const root = parseXml(xml);
  if (root.name !== 'node') throw new IntrospectionError(`the root element is <${root.name}>, not <node>`, root);
  onlyChildren(root, ['interface', 'node', 'annotation']);
  const interfaces = childrenNamed(root, 'interface').map(parseInterface);
  uniqueNames(root, 'interface', interfaces.map((i) => i.name));
  return interfaces;
}
