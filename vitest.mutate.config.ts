import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run mutate`: the unit and property tests of the code under mutation, with short
// property runs (a mutant is killed by its first counterexample). The broken-twin tests
// ("catches …") check the tests, not the code, and are left out.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/virtio/**/*.test.ts', 'test/migration/**/*.test.ts', 'test/testing/**/*.test.ts', 'test/memory/runs.test.ts', 'test/guest/packed-driver-queue.test.ts'],
    testNamePattern: '^(?!.*catches)',
    env: { FREEHINT_RUNS: '10' },
  },
});
