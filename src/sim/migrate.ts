/** A precopy migration of a simulated VM to a destination: the engine wired to the VM's source side. */
import type { Destination, Received } from '../migration/destination.js';
import type { MigrationError } from '../migration/errors.js';
import type { MigrationResult, RoundProgress } from '../migration/migration-source.js';
import { PrecopyMigration } from '../migration/precopy.js';
import type { PrecopySafetyRules } from '../migration/safety-rules.js';
import { strategySet } from '../migration/strategies.js';
import { StreamError } from '../migration/stream.js';
import type { CostModel } from '../migration/cost-model.js';
import type { HostCpus } from '../migration/host-cpus.js';
import type { OverlayMode } from '../migration/overlay.js';
import type { Vm } from './vm.js';

/** A precopy migration of a simulated VM: strategies, costs, limits, overlay mode, and the hooks tests use (a stream tamper, safety rules). */
export interface MigrateOptions {
  /** e.g. 'zero+hint' or ['zero', 'hint']. */
  readonly strategies: string | readonly string[];
  readonly cost?: Partial<CostModel>;
  readonly downtimeLimitMs?: number;
  readonly maxRounds?: number;
  readonly cancelAfterMs?: number;
  readonly overlayMode?: OverlayMode;
  /** Flip bits or cut the stream on the way (fault injection): return the bytes to deliver. */
  readonly tamper?: (chunk: Uint8Array, index: number) => Uint8Array | undefined;
  /** The engine's safety rules (tests pass broken ones). */
  readonly rules?: PrecopySafetyRules;
  /** The host's cores, shared with the guest (pass the Vm's `host`). */
  readonly host?: HostCpus;
  /** Hand off to postcopy after this many rounds (see migratePostcopy). */
  readonly handOffAfterRounds?: number;
  /** Called after each round with the engine's progress. */
  readonly onRound?: (progress: RoundProgress) => void;
}

/** A precopy migration's result, and what the destination received. */
export interface Migration {
  readonly result: MigrationResult;
  /** What the destination applied; undefined when it rejected the stream. */
  readonly received: Received | undefined;
  /** Why it failed: the source's MigrationError, or the StreamError the destination rejected the stream with. */
  readonly error: MigrationError | StreamError | undefined;
}

/** Migrate `vm` to `destination` with precopy over one channel; the destination verifies. */
export function migrate(vm: Vm, destination: Destination, options: MigrateOptions): Migration {
  const incoming = destination.incoming();
  let chunks = 0;
  const engine = new PrecopyMigration(vm, {
    strategies: strategySet(options.strategies),
    destinationFresh: destination.fresh,
    sink: (chunk) => {
      const delivered = options.tamper ? options.tamper(chunk, chunks++) : chunk;
      if (delivered !== undefined) incoming.push(delivered);
    },
    ...(options.cost ? { cost: options.cost } : {}),
    ...(options.downtimeLimitMs !== undefined ? { downtimeLimitMs: options.downtimeLimitMs } : {}),
    ...(options.maxRounds !== undefined ? { maxRounds: options.maxRounds } : {}),
    ...(options.cancelAfterMs !== undefined ? { cancelAfterMs: options.cancelAfterMs } : {}),
    ...(options.rules ? { rules: options.rules } : {}),
    ...(options.host ? { host: options.host } : {}),
    ...(options.overlayMode ? { overlayMode: options.overlayMode } : {}),
    ...(options.handOffAfterRounds !== undefined ? { handOffAfterRounds: options.handOffAfterRounds } : {}),
  });
  if (options.onRound) engine.progress$.subscribe(options.onRound);
  const result = engine.run();
  if (result.error) return { result, received: undefined, error: result.error };
  try {
    return { result, received: incoming.finish(), error: undefined };
  } catch (error) {
    // The destination rejects a stream with a StreamError; anything else is a bug and goes up.
    if (!(error instanceof StreamError)) throw error;
    return { result, received: undefined, error };
  }
}
