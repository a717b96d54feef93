/**
 * Bundle the benchmarks as a release build would be (no name-keeping helpers, as tsx adds),
 * then run them: `npm run bench` measures the code users run, not the dev loader.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

await build({
  entryPoints: [here('./run.ts'), here('./scale-child.ts')],
  outdir: here('./.build'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
const result = spawnSync(process.execPath, [here('./.build/run.js'), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
