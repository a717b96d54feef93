import { defineConfig } from 'tsup';

// The command line: Node.js only; the core (`freehint`) and the other dependencies stay external.
export default defineConfig({
  entry: { cli: 'src/cli.ts', 'run-worker': 'src/run-worker.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
});
