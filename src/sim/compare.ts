/** The comparison runner: strategies side by side on scenarios, as plain results. */
import { Observable } from 'rxjs';
import { CompactMemory } from '../memory/compact/compact-memory.js';
import { Destination } from '../migration/destination.js';
import { HostCpus } from '../migration/host-cpus.js';
import type { RoundProgress } from '../migration/migration-source.js';
import { strategySet } from '../migration/strategies.js';
import { migrate } from './migrate.js';
import { costOf, hostOf, makeWorkload, type Scenario } from './scenario.js';
import { Vm, type VmOptions } from './vm.js';

/** What one strategy did on one scenario, as plain data. */
export interface StrategyResult {
  readonly strategy: string;
  readonly workload: string;
  readonly guestBytes: number;
  readonly freePolicy: string;
  readonly seed: number;
  readonly status: 'completed' | 'cancelled' | 'failed';
  /** The destination accepted the stream and the guest, continuing there, found every page it uses intact. */
  readonly verified: boolean;
  /** Why it failed or did not verify. */
  readonly problem?: string;
  readonly simulatedMs: number;
  readonly downtimeMs: number;
  /** The guest stopped no longer than the downtime limit (false: forced by the round limit, or dirtied past the estimate). */
  readonly downtimeLimitMet: boolean;
  /** Dirty-bitmap syncs, the setup's included (QEMU's dirty-sync-count). */
  readonly syncs: number;
  readonly bytes: number;
  readonly rounds: number;
  /** Pages sent whole, zero pages sent as headers, pages hinted away, zero pages skipped. */
  readonly pagesSent: number;
  readonly zeroPages: number;
  readonly hintedPages: number;
  readonly skippedZeroPages: number;
  /** Simulated time against the `zero` strategy of the same scenario (−0.84 is 84% less); undefined without one. */
  readonly reductionVsZero?: number;
  /** How long this simulator took, ms (not part of the model). */
  readonly wallMs: number;
}

/** A strategy's rounds as they happen, for progress display. */
export interface StrategyProgress extends RoundProgress {
  readonly strategy: string;
}

/**
 * The guest a scenario describes (its size, seed, workload, free policy, vCPUs and the host's
 * guest costs), with `extra` options on top, booted and run for its warm-up.
 */
export function bootScenarioGuest(scenario: Scenario, extra: Partial<VmOptions> = {}): Vm {
  const vm = new Vm({
    ramBytes: scenario.guestBytes,
    seed: scenario.seed,
    memory: 'compact',
    workload: makeWorkload(scenario),
    freePolicy: scenario.freePolicy,
    initOnAlloc: scenario.initOnAlloc,
    vcpus: scenario.vcpus,
    cpu: hostOf(scenario).guest,
    ...extra,
  });
  if (!vm.boot()) throw new Error('the guest balloon driver failed to probe');
  vm.run(scenario.warmupMs);
  return vm;
}

/** The guest of a scenario, booted and run for its warm-up, ready for `strategy`. */
export function prepareGuest(scenario: Scenario, strategy: string): Vm {
  return bootScenarioGuest(scenario, {
    host: new HostCpus(hostOf(scenario).cores),
    // Free page reporting is a property of the guest: only the `report` strategy's guest runs it.
    balloon: { statsQueue: true, deflateOnOom: true, mustTellHost: true, freePageHint: true, pagePoison: true, pageReporting: strategySet(strategy).report },
  });
}

/**
 * Run one strategy on a scenario: boot the guest, run its warm-up, migrate it to a fresh
 * destination, then let the guest continue on the destination and check every page it uses.
 */
export function runStrategy(scenario: Scenario, strategy: string, onRound?: (progress: RoundProgress) => void): StrategyResult {
  const started = performance.now();
  const vm = prepareGuest(scenario, strategy);
  const destination = new Destination(new CompactMemory({ regions: scenario.guestBytes, patternSeed: scenario.seed }));
  const m = migrate(vm, destination, {
    strategies: strategy,
    cost: costOf(scenario),
    host: vm.host,
    downtimeLimitMs: scenario.downtimeLimitMs,
    overlayMode: scenario.overlayMode,
    ...(onRound ? { onRound } : {}),
  });
  let problem = m.error?.message;
  if (m.received && m.result.status === 'completed') {
    vm.switchOver(destination.memory, m.received.devices);
    const wrong = vm.kernel.verify();
    if (wrong.length > 0) problem = `${wrong.length} pages in use differ on the destination (first pfn ${wrong[0]})`;
  }
  const r = m.result;
  return {
    strategy,
    workload: scenario.workload,
    guestBytes: scenario.guestBytes,
    freePolicy: scenario.freePolicy,
    seed: scenario.seed,
    status: m.error ? 'failed' : r.status,
    verified: problem === undefined && r.status === 'completed',
    ...(problem !== undefined ? { problem } : {}),
    simulatedMs: r.totalMs,
    downtimeMs: r.downtimeMs,
    downtimeLimitMet: r.downtimeLimitMet,
    syncs: r.syncs,
    bytes: r.bytes,
    rounds: r.rounds,
    pagesSent: r.normalPages,
    zeroPages: r.zeroPages,
    hintedPages: r.hintedPages,
    skippedZeroPages: r.skippedZeroPages,
    wallMs: performance.now() - started,
  };
}

/** Fill in each result's reduction against the `zero` result of the same scenario. */
export function withReductions(results: readonly StrategyResult[]): StrategyResult[] {
  const key = (r: StrategyResult): string => `${r.workload}/${r.guestBytes}/${r.freePolicy}/${r.seed}`;
  const zero = new Map(results.filter((r) => r.strategy === 'zero').map((r) => [key(r), r.simulatedMs]));
  return results.map((r) => {
    const base = zero.get(key(r));
    return base === undefined ? r : { ...r, reductionVsZero: r.simulatedMs / base - 1 };
  });
}

/** Events of a comparison run: rounds as they happen, and each strategy's result. */
export type CompareEvent =
  | { readonly kind: 'round'; readonly run: number; readonly runs: number; readonly scenario: Scenario; readonly progress: StrategyProgress }
  | { readonly kind: 'result'; readonly run: number; readonly runs: number; readonly result: StrategyResult };

/**
 * Run every strategy of every scenario, one after the other, each from the same starting guest
 * (same seed, same history). Emits rounds and results; completes after the last. Runs yield to
 * the event loop between strategies so that a progress display can redraw.
 */
export function compareScenarios(scenarios: readonly Scenario[]): Observable<CompareEvent> {
  return new Observable<CompareEvent>((subscriber) => {
    const jobs = scenarios.flatMap((scenario) => scenario.strategies.map((strategy) => ({ scenario, strategy })));
    let cancelled = false;
    void (async () => {
      for (const [run, { scenario, strategy }] of jobs.entries()) {
        if (cancelled) return;
        try {
          const result = runStrategy(scenario, strategy, (progress) => subscriber.next({ kind: 'round', run, runs: jobs.length, scenario, progress: { ...progress, strategy } }));
          subscriber.next({ kind: 'result', run, runs: jobs.length, result });
        } catch (error) {
          subscriber.error(error);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      subscriber.complete();
    })();
    return () => {
      cancelled = true;
    };
  });
}
