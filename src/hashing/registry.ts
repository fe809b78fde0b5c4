/**
 * The hash families by name: one explicit registry instead of `if (HashFunction == 1..4)` chains.
 * The four built-ins are registered when this module loads; `registerHashFamily` adds more and
 * throws on a duplicate name. Options are validated by each family's constructor with messages
 * that name the option.
 */
import { ConfigError } from '../util/errors.js';
import type { HashFamily, HashFamilyFactory, HashFamilyName, HashFamilyOptions } from './types.js';
import { SimHash } from './simhash.js';
import { Wta } from './wta.js';
import { Dwta } from './dwta.js';
import { Doph } from './doph.js';

const registry = new Map<string, HashFamilyFactory>();

/** Add a family under `name`; throws if the name is taken. */
export function registerHashFamily(name: string, factory: HashFamilyFactory): void {
  if (typeof name !== 'string' || name.length === 0) throw new ConfigError(`registerHashFamily: name must be a non-empty string, found ${JSON.stringify(name)}`);
  if (typeof factory !== 'function') throw new ConfigError(`registerHashFamily('${name}'): factory must be a function`);
  if (registry.has(name)) throw new ConfigError(`registerHashFamily: a hash family named '${name}' is already registered`);
  registry.set(name, factory);
}

/** Names of the registered families, in registration order. */
export function knownHashFamilies(): string[] {
  return [...registry.keys()];
}

/**
 * Create the family `name` (a built-in HashFamilyName or a name registered since) with `opts`.
 * Throws a ConfigError listing the known names for an unknown one.
 */
export function createHashFamily(name: HashFamilyName | (string & {}), opts: HashFamilyOptions): HashFamily {
  const factory = registry.get(name);
  if (factory === undefined) {
    throw new ConfigError(`unknown hash family ${JSON.stringify(name)}; known: ${knownHashFamilies().map((n) => `'${n}'`).join(', ')}`);
  }
  return factory(opts);
}

registerHashFamily('simhash', (o) => new SimHash(o));
registerHashFamily('wta', (o) => new Wta(o));
registerHashFamily('dwta', (o) => new Dwta(o));
registerHashFamily('doph', (o) => new Doph(o));
