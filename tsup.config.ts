import { defineConfig } from 'tsup';

// The core library: no Node.js APIs, so one build serves Node and bundlers for the browser.
export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  target: 'es2022',
  platform: 'neutral',
  // No source maps: they would point into sources the packages do not ship.
  sourcemap: false,
  clean: true,
  // Shared chunks, so that freehint and freehint/testing share one copy of each class.
  splitting: true,
});
