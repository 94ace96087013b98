/**
 * Stub implementations of the contract's interfaces for bus tests: every method fails with Error.Internal ("not
 * implemented by this stub") unless overridden, every property holds a default value of its type unless overridden.
 */
import { typed } from '../../src/dbus/bus.js';
import { contractInterface, type InterfaceImpl, type MethodHandler } from '../../src/dbus/contract.js';
import { splitSignature } from '../../src/dbus/introspection.js';
import type { InterfaceName } from '../../src/dbus/names.js';
import { AptOstreeError } from '../../src/lib/errors.js';

export function defaultValue(type: string): unknown {
  switch (type.charAt(0)) {
    case 's': return '';
    case 'o': return '/';
    case 'g': return '';
    case 'b': return false;
    case 'v': return typed('s', '');
    case 'a': return type.startsWith('a{') ? {} : [];
    case '(': return (splitSignature(type.slice(1, -1)) ?? []).map(defaultValue);
    default: return 0;
  }
}

export function stubImpl(name: InterfaceName, overrides: Partial<InterfaceImpl> = {}): InterfaceImpl {
  const info = contractInterface(name);
  const methods: Record<string, MethodHandler> = {};
  for (const m of info.methods) {
    methods[m.name] = overrides.methods?.[m.name] ?? (() => {
      throw new AptOstreeError('internal', `${m.name} is not implemented by this stub`, 'tests only');
    });
  }
  const properties: Record<string, () => unknown> = {};
  for (const p of info.properties) {
    const value = defaultValue(p.type);
    properties[p.name] = overrides.properties?.[p.name] ?? (() => value);
  }
  return { methods, properties };
}
