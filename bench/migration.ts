import { CompactMemory } from '../src/memory/compact/compact-memory.js';
import { Destination } from '../src/migration/destination.js';
import { prepareGuest } from '../src/sim/compare.js';
import { migrate } from '../src/sim/migrate.js';
import { checkScenario, costOf } from '../src/sim/scenario.js';
import { below, type Benchmark, type Figure } from './harness.js';

/**
 * The default comparison's migrations (8 GiB idle and compile guests, every strategy), each
 * guest booted and warmed up first, untimed: the cost model's figures, and P5, the simulator's
 * wall time for the migration against the simulated time of the migration it models.
 */
export const migration: Benchmark = {
  name: 'migration',
  figures({ quick }) {
    const figures: Figure[] = [];
    for (const workload of quick ? ['idle'] : ['idle', 'compile']) {
      const scenario = checkScenario({ workload, ...(quick ? { guest: '1G', warmupMs: 500 } : {}) });
      for (const strategy of scenario.strategies) {
        const vm = prepareGuest(scenario, strategy);
        const destination = new Destination(new CompactMemory({ regions: scenario.guestBytes, patternSeed: scenario.seed }));
        const started = performance.now();
        const m = migrate(vm, destination, { strategies: strategy, cost: costOf(scenario), host: vm.host, downtimeLimitMs: scenario.downtimeLimitMs, overlayMode: scenario.overlayMode });
        const wall = performance.now() - started;
        if (m.error) throw m.error;
        const r = m.result;
        const ratio = wall / r.totalMs;
        figures.push({
          name: `migrate ${workload} ${scenario.guestBytes / 2 ** 30} GiB, ${strategy}: simulator wall / simulated time`,
          value: ratio,
          unit: '×',
          goal: below('P5', ratio, 1, '×'),
          note: `${wall.toFixed(0)} ms wall for ${r.totalMs.toFixed(0)} ms simulated; ${(r.bytes / 2 ** 20).toFixed(0)} MiB sent, ${r.rounds} rounds, downtime ${r.downtimeMs.toFixed(1)} ms, ${r.normalPages} pages + ${r.zeroPages} zero records, ${r.hintedPages} hinted`,
        });
      }
    }
    return figures;
  },
};
