import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string): string => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // The README's examples import the package by name; tests run them against the sources.
    alias: [
      { find: /^freehint\/testing$/, replacement: src('testing/index.ts') },
      { find: /^freehint$/, replacement: src('index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'cli/test/**/*.test.ts', 'explorer/test/**/*.test.ts'],
    // A fixed seed for every property (FREEHINT_SEED to explore another).
    setupFiles: ['test/support/seed.ts'],
    // Property tests read FREEHINT_RUNS (see test/support/runs.ts); a slow machine must not fail a correct test.
    testTimeout: 60_000,
  },
});
