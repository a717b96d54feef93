/**
 * `npm run test:linux`: build (or reuse) the guest assets, then run the Linux guest tests.
 * Without Debian's archive the assets cannot be built: that is said loudly, and the exit code
 * is 3, or 0 when FREEHINT_LINUX_OPTIONAL=1 (CI, where the rest of the suite already ran).
 */
import { spawnSync } from 'node:child_process';
import { ARCHIVE_UNREACHABLE, buildAssets } from './build-assets.js';

try {
  buildAssets();
} catch (error) {
  const unreachable = (error as { unreachable?: boolean }).unreachable === true;
  const banner = '!'.repeat(78);
  console.error(`${banner}\n  THE LINUX GUEST TEST DID NOT RUN: ${error instanceof Error ? error.message : String(error)}\n${banner}`);
  process.exit(unreachable ? (process.env['FREEHINT_LINUX_OPTIONAL'] === '1' ? 0 : ARCHIVE_UNREACHABLE) : 1);
}
const vitest = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.linux.config.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(vitest.status ?? 1);
