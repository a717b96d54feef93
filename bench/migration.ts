import { CompactMemory } from '../src/memory/compact/compact-memory.js';
import { Destination } from '../src/migration/destination.js';
import { migrate } from '../src/sim/migrate.js';
import { Vm } from '../src/sim/vm.js';
import type { Benchmark, Figure } from './harness.js';

const GiB = 2 ** 30;

/**
 * A simulated migration of an idle guest per strategy: simulated time, bytes, rounds (from
 * the cost model) and this simulator's own wall time to run it. The guest boots without
 * init_on_alloc, like the 2018 kernels of the published hinting results.
 */
export const migration: Benchmark = {
  name: 'migration',
  figures({ quick }) {
    const ram = quick ? 1 * GiB : 8 * GiB;
    const figures: Figure[] = [];
    for (const strategies of ['zero', 'zero+zero-skip', 'zero+hint', 'none']) {
      if (quick && strategies === 'none') continue;
      const vm = new Vm({ ramBytes: ram, seed: 1, memory: 'compact', initOnAlloc: false });
      vm.boot();
      vm.run(10);
      const destination = new Destination(new CompactMemory({ regions: ram, patternSeed: 1 }));
      const started = performance.now();
      const m = migrate(vm, destination, { strategies, downtimeLimitMs: 2000 });
      const wall = performance.now() - started;
      if (m.error) throw m.error;
      const r = m.result;
      figures.push({
        name: `migrate idle ${ram / GiB} GiB, ${strategies}`,
        value: r.totalMs,
        unit: 'ms simulated',
        note: `${(r.bytes / 2 ** 20).toFixed(0)} MiB sent, ${r.rounds} rounds, downtime ${r.downtimeMs.toFixed(1)} ms, ${r.normalPages} pages + ${r.zeroPages} zero records, ${r.hintedPages} hinted; wall ${(wall / 1000).toFixed(1)} s`,
      });
    }
    return figures;
  },
};
