import { defineConfig } from 'vitest/config';

// `npm run test:linux`: a real Linux guest in v86 (minutes, not part of `npm test`).
export default defineConfig({
  test: {
    include: ['test-linux/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 420_000,
    fileParallelism: false,
  },
});
