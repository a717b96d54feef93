import { defineConfig } from 'tsup';

// The command line: Node.js only; the core (`freehint`) and the other dependencies stay external.
export default defineConfig({
  entry: { cli: 'src/cli.ts', 'run-worker': 'src/run-worker.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  // No source maps: they would point into sources the packages do not ship.
  sourcemap: false,
  clean: true,
});
