/** A postcopy migration of a simulated VM: precopy rounds, the hand-off, then pages on demand. */
import type { MigrationResult } from '../migration/migration-source.js';
import type { PrecopySafetyRules } from '../migration/safety-rules.js';
import type { Destination } from '../migration/destination.js';
import { MigrationError } from '../migration/errors.js';
import { PostcopySession, type HintPolicy, type PostcopyParams, type PostcopyStats } from '../migration/postcopy.js';
import { strategySet } from '../migration/strategies.js';
import type { StreamError } from '../migration/stream.js';
import type { CostModel } from '../migration/cost-model.js';
import { migrate } from './migrate.js';
import type { Vm } from './vm.js';

/** A postcopy migration of a simulated VM: precopy rounds first, then the hand-off. */
export interface PostcopyMigrateOptions {
  readonly strategies: string;
  /** Precopy rounds before the switch to postcopy (QEMU: migrate-start-postcopy). */
  readonly precopyRounds: number;
  /** 'refuse' (QEMU): hinting and postcopy do not mix; 'local-zero': faults on hinted-clean pages are zero pages. */
  readonly hintPolicy?: HintPolicy;
  readonly hugePageBytes?: number;
  readonly preempt?: boolean;
  readonly linkLatencyMs?: number;
  readonly cost?: Partial<CostModel>;
  readonly downtimeLimitMs?: number;
  /** Break a postcopy-phase channel (fault injection). */
  readonly tamper?: PostcopyParams['tamper'];
  /** The safety rules of each phase (tests pass broken ones). */
  readonly rules?: PrecopySafetyRules;
  readonly postcopyRules?: PostcopyParams['rules'];
  /** Simulated ms the guest runs on at the destination after the last page, before it is checked. */
  readonly runOnMs?: number;
}

/** How a postcopy migration ended, what it cost, and any placement violation it saw. */
export interface PostcopyOutcome {
  readonly status: 'completed' | 'failed';
  /** Why it failed: a MigrationError, or the StreamError the destination rejected the precopy stream with. */
  readonly error?: MigrationError | StreamError;
  /** The precopy rounds and the hand-off. */
  readonly precopy: MigrationResult;
  /** The postcopy phase (absent when the precopy phase failed). */
  readonly postcopy?: PostcopyStats;
  /** Pause to the guest running again on the destination, simulated ms. */
  readonly downtimeMs: number;
  /** Start to the last page, simulated ms. */
  readonly totalMs: number;
  /** Huge pages split across channels or received twice (must be empty). */
  readonly violations: readonly string[];
}

/**
 * Migrate with postcopy: precopy rounds, a hand-off, then the guest runs on the destination
 * while the rest arrives (see PostcopySession). On success the guest keeps running at the
 * destination; a channel that breaks after the switchover is a `postcopy-failed` error, and the
 * destination guest is stopped at its next access to a page that did not arrive.
 */
export function migratePostcopy(vm: Vm, destination: Destination, options: PostcopyMigrateOptions): PostcopyOutcome {
  const policy = options.hintPolicy ?? 'refuse';
  // QEMU's rule, kept as the 'refuse' policy: hinted pages are never sent, so a fault on one would stall.
  strategySet(options.strategies, { postcopy: policy === 'refuse' });
  if (!Number.isInteger(options.precopyRounds) || options.precopyRounds < 1) throw new RangeError(`precopy rounds ${options.precopyRounds}: expected a whole number ≥ 1`);
  const source = vm.memory;
  const m = migrate(vm, destination, {
    strategies: options.strategies,
    handOffAfterRounds: options.precopyRounds,
    ...(options.cost ? { cost: options.cost } : {}),
    ...(options.downtimeLimitMs !== undefined ? { downtimeLimitMs: options.downtimeLimitMs } : {}),
    ...(options.rules ? { rules: options.rules } : {}),
  });
  const handOff = m.result.handOff;
  if (m.error || m.received === undefined || handOff === undefined) {
    return { status: 'failed', error: m.error ?? new MigrationError('source-failed', 'the precopy phase did not hand off'), precopy: m.result, downtimeMs: m.result.downtimeMs, totalMs: m.result.totalMs, violations: [] };
  }
  const session = new PostcopySession(
    source,
    destination.memory,
    { remaining: handOff.remaining, hintedClean: policy === 'local-zero' ? handOff.hintedClean : undefined },
    {
      hugePageBytes: options.hugePageBytes ?? 2 << 20,
      preempt: options.preempt ?? true,
      linkLatencyMs: options.linkLatencyMs ?? 0.05,
      ...(options.cost ? { cost: options.cost } : {}),
      ...(options.tamper ? { tamper: options.tamper } : {}),
      ...(options.postcopyRules ? { rules: options.postcopyRules } : {}),
    },
  );
  vm.switchOver(session.guestMemory, m.received.devices);
  vm.resume();
  let error: MigrationError | undefined;
  try {
    // The guest runs; the precopy channel streams the rest alongside until all of it is there.
    while (session.remaining > 0 && !session.failed) {
      vm.step();
      session.nowMs += vm.stepMs;
      session.background(vm.stepMs);
    }
    if (session.failed) throw session.failed;
    vm.run(options.runOnMs ?? 20);
  } catch (e) {
    if (!(e instanceof MigrationError)) throw e;
    error = e;
    vm.pause();
  }
  return {
    status: error ? 'failed' : 'completed',
    ...(error ? { error } : {}),
    precopy: m.result,
    postcopy: session.stats,
    downtimeMs: m.result.downtimeMs,
    totalMs: m.result.totalMs + session.nowMs,
    violations: session.violations.map((v) => `huge page ${v.huge}: ${v.problem === 'split' ? 'split across channels' : 'received twice'}`),
  };
}
