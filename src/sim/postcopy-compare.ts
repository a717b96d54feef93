/** The postcopy comparison: a busy guest migrated four ways from the same starting state. */
import { CompactMemory } from '../memory/compact/compact-memory.js';
import { Destination } from '../migration/destination.js';
import type { HintPolicy } from '../migration/postcopy.js';
import { bootScenarioGuest } from './compare.js';
import { migrate } from './migrate.js';
import { migratePostcopy } from './postcopy-migrate.js';
import { costOf, type Scenario } from './scenario.js';

/** One way to migrate a busy guest, as plain data. */
export interface PostcopyVariantResult {
  readonly variant: string;
  readonly status: string;
  readonly verified: boolean;
  readonly totalMs: number;
  readonly downtimeMs: number;
  /** Bytes of the precopy rounds; after the switchover, of each channel. */
  readonly precopyBytes: number;
  readonly precopyChannelBytes: number;
  readonly postcopyChannelBytes: number;
  readonly faults: number;
  readonly faultP50Ms: number;
  readonly faultP99Ms: number;
  readonly faultMaxMs: number;
  readonly resolvedLocally: number;
}

interface Variant {
  readonly name: string;
  readonly strategies: string;
  readonly postcopy?: { readonly preempt: boolean; readonly hintPolicy: HintPolicy };
}

const VARIANTS: readonly Variant[] = [
  { name: 'precopy (zero)', strategies: 'zero' },
  { name: 'postcopy, no preemption', strategies: 'zero', postcopy: { preempt: false, hintPolicy: 'refuse' } },
  { name: 'postcopy + preemption', strategies: 'zero', postcopy: { preempt: true, hintPolicy: 'refuse' } },
  { name: 'postcopy + preemption + hints (local zero)', strategies: 'zero+hint', postcopy: { preempt: true, hintPolicy: 'local-zero' } },
];

/**
 * A busy guest that precopy cannot converge on within `precopyRounds`·rounds, migrated four
 * ways from the same starting state: precopy alone (up to 30 rounds), postcopy after
 * `precopyRounds` rounds with and without the preemption channel, and with hints kept safe by
 * the local-zero policy. Huge pages of `hugePageBytes`. `onVariantDone` hears of each finished
 * variant (the four take tens of seconds on a large guest).
 */
export function comparePostcopy(scenario: Scenario, options: { precopyRounds?: number; hugePageBytes?: number; onVariantDone?: (done: number, total: number, variant: string) => void } = {}): PostcopyVariantResult[] {
  return VARIANTS.map((v, index) => {
    const result = runVariant(scenario, v, options);
    options.onVariantDone?.(index + 1, VARIANTS.length, v.name);
    return result;
  });
}

function runVariant(scenario: Scenario, v: Variant, options: { precopyRounds?: number; hugePageBytes?: number }): PostcopyVariantResult {
  const vm = bootScenarioGuest(scenario);
  const destination = new Destination(new CompactMemory({ regions: scenario.guestBytes, patternSeed: scenario.seed }));
  const cost = costOf(scenario);
  if (v.postcopy === undefined) {
    const m = migrate(vm, destination, { strategies: v.strategies, cost, downtimeLimitMs: scenario.downtimeLimitMs, maxRounds: 30 });
    let verified = false;
    if (m.received) {
      vm.switchOver(destination.memory, m.received.devices);
      verified = vm.kernel.verify().length === 0;
    }
    const r = m.result;
    return {
      variant: v.name,
      status: r.status,
      verified,
      totalMs: r.totalMs,
      downtimeMs: r.downtimeMs,
      precopyBytes: r.bytes,
      precopyChannelBytes: 0,
      postcopyChannelBytes: 0,
      faults: 0,
      faultP50Ms: 0,
      faultP99Ms: 0,
      faultMaxMs: 0,
      resolvedLocally: 0,
    };
  }
  const o = migratePostcopy(vm, destination, {
    strategies: v.strategies,
    precopyRounds: options.precopyRounds ?? 2,
    hintPolicy: v.postcopy.hintPolicy,
    preempt: v.postcopy.preempt,
    hugePageBytes: options.hugePageBytes ?? 2 << 20,
    cost,
    downtimeLimitMs: scenario.downtimeLimitMs,
  });
  const p = o.postcopy;
  return {
    variant: v.name,
    status: o.status,
    verified: o.status === 'completed' && o.violations.length === 0 && vm.kernel.verify().length === 0,
    totalMs: o.totalMs,
    downtimeMs: o.downtimeMs,
    precopyBytes: o.precopy.bytes,
    precopyChannelBytes: p?.precopyChannelBytes ?? 0,
    postcopyChannelBytes: p?.postcopyChannelBytes ?? 0,
    faults: p?.faults ?? 0,
    faultP50Ms: p?.faultLatencyMs.p50 ?? 0,
    faultP99Ms: p?.faultLatencyMs.p99 ?? 0,
    faultMaxMs: p?.faultLatencyMs.max ?? 0,
    resolvedLocally: p?.resolvedLocally ?? 0,
  };
}
