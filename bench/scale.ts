import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Benchmark, Figure } from './harness.js';

const GiB = 2 ** 30;

/** Boot an idle guest in a fresh process, so its peak RSS is its own. */
function boot(ramBytes: number): { bootMs: number; hintMs: number; heldPages: number; maxRssBytes: number } {
  // From source (tsx) or from the bundle bench/build.ts makes.
  const child = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './scale-child.ts' : './scale-child.js', import.meta.url));
  const out = execFileSync(process.execPath, [...process.execArgv, child, String(ramBytes)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as ReturnType<typeof boot>;
}

export const scale: Benchmark = {
  name: 'scale',
  figures({ quick }) {
    const sizes = quick ? [8 * GiB] : [8 * GiB, 1024 * GiB];
    const figures: Figure[] = [];
    for (const size of sizes) {
      const r = boot(size);
      const label = `idle ${size / GiB} GiB guest`;
      figures.push(
        { name: `${label}: boot (allocator, kernel pages, balloon probe, workload)`, value: r.bootMs, unit: 'ms' },
        { name: `${label}: first hint round over all free memory`, value: r.hintMs, unit: 'ms', note: `${(r.heldPages / 256).toFixed(0)} MiB hinted` },
        { name: `${label}: peak RSS`, value: r.maxRssBytes / 2 ** 20, unit: 'MiB', note: size >= 1024 * GiB ? 'bound: 4096 MiB' : undefined },
      );
    }
    return figures;
  },
};
