import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { linuxGuestAssets } from './build/linux-guest-assets.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative URLs: the built site works from any directory a static server puts it in.
  base: './',
  resolve: {
    // The pages run the library from its sources, as the CLI and the tests do.
    alias: [
      { find: /^freehint$/, replacement: here('../src/index.ts') },
      // v86's Node-only branches (see the module); the page never takes them.
      { find: /^(?:node:)?(?:fs|fs\/promises|crypto|perf_hooks)$/, replacement: here('src/linux/node-builtins.ts') },
    ],
  },
  worker: { format: 'es' },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    // vega and v86 are large by nature; the pages load them once.
    chunkSizeWarningLimit: 2048,
    rollupOptions: { input: { compare: here('index.html'), linux: here('linux.html') } },
  },
  plugins: [linuxGuestAssets(here('../.cache/linux-guest'))],
  preview: { port: 4173, strictPort: false },
});
