export type { HashFamily, HashFamilyFactory, HashFamilyName, HashFamilyOptions } from './types.js';
export { SimHash } from './simhash.js';
export { Wta } from './wta.js';
export { Dwta } from './dwta.js';
export { Doph } from './doph.js';
export { EMPTY_INPUT_CODE, PROBE_CAP } from './common.js';
export { createHashFamily, knownHashFamilies, registerHashFamily } from './registry.js';
