/** Comma-separated lists from the command line, checked: none empty, nothing twice. */
import { UsageError } from '../usage-error.js';

/**
 * A comma-separated list from the command line: at least one item, none empty, none twice.
 * `key` says when two spellings are the same item (1G and 1024M are one guest size).
 */
export function parseList<T>(text: string, what: string, parse: (item: string) => T, key: (value: T) => unknown = (value) => value): T[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.every((item) => item === '')) throw new UsageError(`${what} '${text}': expected at least one, comma-separated`);
  if (items.includes('')) throw new UsageError(`${what} '${text}': an empty item between commas`);
  const seen = new Map<unknown, string>();
  return items.map((item) => {
    const value = parse(item);
    const earlier = seen.get(key(value));
    if (earlier !== undefined) throw new UsageError(`${what} '${text}': '${item}' is given twice${earlier === item ? '' : ` (as '${earlier}' too)`}`);
    seen.set(key(value), item);
    return value;
  });
}
