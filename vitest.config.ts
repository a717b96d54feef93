import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests read FREEHINT_RUNS (see test/support/runs.ts); a slow machine must not fail a correct test.
    testTimeout: 60_000,
  },
});
