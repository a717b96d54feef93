import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Benchmark, Figure } from './harness.js';

const GiB = 2 ** 30;

interface ChildFigures {
  readonly bootMs: number;
  readonly hintMs: number;
  readonly heldPages: number;
  readonly migrateMs: number;
  readonly simulatedMs: number;
  readonly maxRssBytes: number;
}

/** Boot an idle guest in a fresh process (and migrate it, given a strategy), so its peak RSS is its own. */
function boot(ramBytes: number, strategy?: string, quiet = false): ChildFigures {
  // From source (tsx) or from the bundle bench/build.ts makes.
  const child = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './scale-child.ts' : './scale-child.js', import.meta.url));
  const out = execFileSync(process.execPath, [...process.execArgv, child, String(ramBytes), ...(strategy ? [strategy] : []), ...(quiet ? ['quiet'] : [])], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as ChildFigures;
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
    // P2: the same strategy on an idle 8 GiB and an idle 1 TiB guest, each in its own process.
    for (const strategy of quick ? ['zero+hint'] : ['none', 'zero', 'zero+zero-skip', 'zero+hint', 'zero+report']) {
      const small = boot(8 * GiB, strategy);
      if (quick) continue;
      const large = boot(1024 * GiB, strategy);
      figures.push({
        name: `migrate idle 1 TiB vs 8 GiB guest, ${strategy}: wall ratio`,
        value: large.migrateMs / small.migrateMs,
        unit: '×',
        note: `${(large.migrateMs / 1000).toFixed(2)} s vs ${(small.migrateMs / 1000).toFixed(2)} s wall for ${(large.simulatedMs / 1000).toFixed(0)} s vs ${(small.simulatedMs / 1000).toFixed(1)} s simulated; 1 TiB peak RSS ${(large.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
      });
    }
    // The same without the idle guest's background writes (1 MiB/s): what is left grows with
    // the guest's memory map and bitmaps, not with the writes a longer migration lets it make.
    if (!quick) {
      for (const strategy of ['zero', 'zero+hint']) {
        const small = boot(8 * GiB, strategy, true);
        const large = boot(1024 * GiB, strategy, true);
        figures.push({
          name: `migrate quiet 1 TiB vs 8 GiB guest (no background writes), ${strategy}: wall ratio`,
          value: large.migrateMs / small.migrateMs,
          unit: '×',
          note: `${(large.migrateMs / 1000).toFixed(2)} s vs ${(small.migrateMs / 1000).toFixed(2)} s wall`,
        });
      }
    }
    return figures;
  },
};
