import { describe, expect, it } from 'vitest';
import { targets } from '../fuzz/targets.js';
import { runs } from './support/runs.js';

// A bounded slice of every fuzz campaign (`npm run fuzz` runs the long ones).
describe('fuzz campaigns, bounded', () => {
  it.each(targets.map((t) => [t.name, t] as const))('%s survives its hostile inputs', (_name, target) => {
    const outcome = target.run({ numRuns: runs(1000), seed: 20261124 });
    expect(outcome.failure).toBeUndefined();
    expect(outcome.inputs).toBeGreaterThan(0);
  });
});
