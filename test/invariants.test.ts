import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, tsFiles } from './support/sources.js';

// docs/invariants.md is the key to the labels the code and tests cite (I1, H6b, P3…): a label
// cited anywhere is defined there, and a label defined there is cited somewhere.
const LABEL = /\b[HIP]\d{1,2}[a-d]?\b/g;
const doc = readFileSync(join(root, 'docs/invariants.md'), 'utf8');
const defined = new Set([...doc.matchAll(/^- \*\*([HIP]\d{1,2}[a-d]?)\*\*/gm)].map((m) => m[1] ?? ''));

const citing = [...['src', 'cli/src', 'test', 'cli/test', 'bench', 'fuzz', 'calibration', 'test-linux'].flatMap(tsFiles), 'README.md', 'bench/README.md'];
/** Every label cited in `paths`, with where. */
function citations(paths: readonly string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const path of paths) {
    for (const [label] of readFileSync(join(root, path), 'utf8').matchAll(LABEL)) found.set(label, [...(found.get(label) ?? []), path]);
  }
  return found;
}
const cited = citations(citing);

describe('docs/invariants.md', () => {
  it('defines the invariants, hazards and goals', () => {
    expect(defined.has('I1') && defined.has('H6b') && defined.has('P5')).toBe(true);
    expect(citations(tsFiles('src')).size).toBeGreaterThan(10);
  });

  it('defines every label the sources, tests and benchmarks cite', () => {
    expect([...cited].filter(([label]) => !defined.has(label)).map(([label, paths]) => `${label} in ${paths.join(', ')}`)).toEqual([]);
  });

  it('defines no label that nothing cites', () => {
    expect([...defined].filter((label) => !cited.has(label))).toEqual([]);
  });
});
