/**
 * The assertions the kit's properties make, in plain JavaScript (no Node.js `assert`, so the
 * kit runs in a browser too): each failure is a {@link CheckFailed} whose message is the one given.
 */

/** A property's check that did not hold: what was found, against what was expected. */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
  constructor(
    message: string,
    readonly actual: unknown,
    readonly expected: unknown,
  ) {
    super(message);
  }
}

/** `condition` must hold. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message, condition, true);
}

/** `actual` must be `expected` (Object.is, as strict equality that also tells NaN apart). */
export function checkEqual<T>(actual: T, expected: T, message: string): void {
  if (!Object.is(actual, expected)) throw new CheckFailed(message, actual, expected);
}

/** `actual` must have the structure of `expected`: arrays and plain objects compared member by member. */
export function checkDeepEqual(actual: unknown, expected: unknown, message: string): void {
  if (!deepEqual(actual, expected)) throw new CheckFailed(message, actual, expected);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return keysA.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k]));
}
