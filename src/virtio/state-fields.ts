/** Typed readers for the fields of an untrusted saved state. */
import { StateError } from './state-error.js';

/**
 * Readers for saved state: each checks one value of an untrusted object (a migration stream
 * from a peer, a snapshot file) and returns it typed, or throws a {@link StateError} naming
 * the field. None of them does work that grows with a number found in the state.
 */

/** A plain object (not an array, not null). */
export function record(value: unknown, field: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StateError(field, 'is not an object');
  return value as Readonly<Record<string, unknown>>;
}

/** An integer in [min, max]. */
export function integer(value: unknown, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new StateError(field, `${describe(value)} is not an integer in [${min}, ${max}]`);
  }
  return value as number;
}

export function u32(value: unknown, field: string): number {
  return integer(value, field, 0, 0xffffffff);
}

export function u16(value: unknown, field: string): number {
  return integer(value, field, 0, 0xffff);
}

export function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new StateError(field, `${describe(value)} is not a boolean`);
  return value;
}

/** One of a few strings. */
export function oneOf<T extends string>(value: unknown, field: string, options: readonly T[]): T {
  if (!(options as readonly unknown[]).includes(value)) throw new StateError(field, `${describe(value)} is not one of ${options.join(', ')}`);
  return value as T;
}

/** An array of at most `maxLength` entries. */
export function list(value: unknown, field: string, maxLength: number): readonly unknown[] {
  if (!Array.isArray(value)) throw new StateError(field, `${describe(value)} is not an array`);
  if (value.length > maxLength) throw new StateError(field, `has ${value.length} entries, more than ${maxLength}`);
  return value;
}

/** A string of at most `maxLength` characters. */
export function text(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length > maxLength) throw new StateError(field, `is not a string of up to ${maxLength} characters`);
  return value;
}

/** A non-negative integer of at most `bits` bits, saved as lowercase hex digits. */
export function hexBits(value: unknown, field: string, bits: number): bigint {
  // The length is checked before the digits are parsed, so a huge string costs nothing.
  if (typeof value !== 'string' || value.length > bits / 4 || !/^[0-9a-f]+$/.test(value)) {
    throw new StateError(field, `${describe(value)} is not ${bits / 4} or fewer hex digits`);
  }
  return BigInt(`0x${value}`);
}

/** The path of `key` inside the state at `path` ('' for the top). */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** A format tag (`key` must hold `tag`) and a version, which must be exactly these. */
export function format(state: Readonly<Record<string, unknown>>, path: string, key: string, tag: string, version: number): void {
  if (state[key] !== tag) throw new StateError(join(path, key), `${describe(state[key])} is not ${JSON.stringify(tag)}`);
  if (state['version'] !== version) throw new StateError(join(path, 'version'), `${describe(state['version'])} is not a supported version (${version})`);
}

/** A short rendering of a value for a message (never the whole of a huge one). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 24 ? `${value.slice(0, 24)}…` : value);
  // Numbers, booleans and null as they are; undefined, bigints and the rest by their type.
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : typeof value;
}
