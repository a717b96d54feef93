import { comparePostcopy } from '../src/sim/postcopy-compare.js';
import { checkScenario } from '../src/sim/scenario.js';
import type { Benchmark, Figure } from './harness.js';

/**
 * A busy 8 GiB guest (a 2 GiB working set rewritten at 2 GiB/s, faster than the link: precopy
 * does not converge)
 * migrated four ways: precopy alone, postcopy after two rounds without and with the preemption
 * channel, and with hints under the local-zero policy. Simulated figures.
 */
export const postcopy: Benchmark = {
  name: 'postcopy',
  figures({ quick }) {
    const scenario = checkScenario({ guest: quick ? '1G' : '8G', workload: 'hog', workloadParams: { workingSetBytes: quick ? '256M' : '2G', dirtyBytesPerSec: '2G' }, warmupMs: 100, downtimeLimitMs: 300 });
    const figures: Figure[] = [];
    for (const r of comparePostcopy(scenario)) {
      figures.push({
        name: `hog ${scenario.guestBytes / 2 ** 30} GiB, ${r.variant}: total`,
        value: r.totalMs,
        unit: 'ms simulated',
        note: `${r.status}${r.verified ? ', verified' : ', NOT verified'}; downtime ${r.downtimeMs.toFixed(0)} ms; ${(r.precopyBytes / 2 ** 20).toFixed(0)} MiB precopy + ${(r.precopyChannelBytes / 2 ** 20).toFixed(0)} MiB background + ${(r.postcopyChannelBytes / 2 ** 20).toFixed(0)} MiB on request; ${r.faults} faults, p50 ${r.faultP50Ms.toFixed(2)} / p99 ${r.faultP99Ms.toFixed(2)} / max ${r.faultMaxMs.toFixed(2)} ms; ${r.resolvedLocally} resolved locally`,
      });
    }
    return figures;
  },
};
