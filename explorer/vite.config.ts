import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative URLs: the built site works from any directory a static server puts it in.
  base: './',
  resolve: {
    // The pages run the library from its sources, as the CLI and the tests do.
    alias: [{ find: /^freehint$/, replacement: here('../src/index.ts') }],
  },
  worker: { format: 'es' },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    // vega is large by nature; the page loads it once.
    chunkSizeWarningLimit: 2048,
    rollupOptions: { input: { compare: here('index.html') } },
  },
  preview: { port: 4173, strictPort: false },
});