import { describe, expect, it } from 'vitest';
import { sources } from './support/sources.js';

// A caught value is `unknown` (strict mode) and is narrowed before use, with instanceof or a
// check of its type; a cast would claim a type nothing checked.
describe('errors are typed all the way up', () => {
  it('no source casts a value to an error type', () => {
    const casts = [...sources].flatMap(([path, text]) => [...text.matchAll(/\bas \w*Error\b/g)].map((m) => `${path}: ${m[0]}`));
    expect(casts).toEqual([]);
  });

  it('no catch clause types its variable (any or unknown written out)', () => {
    const typed = [...sources].flatMap(([path, text]) => [...text.matchAll(/catch \(\w+:[^)]*\)/g)].map((m) => `${path}: ${m[0]}`));
    expect(typed).toEqual([]);
  });

  it('sees the sources', () => {
    expect(sources.size).toBeGreaterThan(90);
    expect(sources.has('src/index.ts') && sources.has('cli/src/cli.ts')).toBe(true);
  });
});
