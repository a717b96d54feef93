import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run mutate`: the unit and property tests of the code under mutation, with short
// property runs (a mutant is killed by its first counterexample; the broken twins keep theirs).
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/virtio/**/*.test.ts', 'test/migration/**/*.test.ts', 'test/testing/**/*.test.ts', 'test/memory/runs.test.ts'],
      env: { FREEHINT_RUNS: '25' },
    },
  }),
);
