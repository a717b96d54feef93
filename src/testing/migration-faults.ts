/** Migration fault injection: a small busy guest, one fault per migration, and the property it must keep. */
import fc from 'fast-check';
import { compile } from '../guest/workloads.js';
import { CompactMemory } from '../memory/compact/compact-memory.js';
import { SparseMemory } from '../memory/sparse-memory.js';
import { Destination } from '../migration/destination.js';
import { MigrationError } from '../migration/errors.js';
import { SAFE_PRECOPY_RULES, type PrecopySafetyRules } from '../migration/safety-rules.js';
import { StreamError } from '../migration/stream.js';
import { migrate } from '../sim/migrate.js';
import { Vm, type VmOptions } from '../sim/vm.js';
import { check, checkDeepEqual, checkEqual } from './check.js';

const MiB = 1 << 20;
/** RAM of {@link smallBusyGuest}. */
export const SMALL_GUEST_RAM = 32 * MiB;
const RAM = SMALL_GUEST_RAM;

/**
 * A 32 MiB guest running a small build: busy enough to allocate, free, rewrite and hint
 * during a migration, small enough for hundreds of migrations a second.
 */
export function smallBusyGuest(seed: number, overrides: Partial<VmOptions> = {}): Vm {
  const vm = new Vm({
    ramBytes: RAM,
    seed,
    memory: 'compact',
    initOnAlloc: false,
    workload: compile({
      residentBytes: 4 * MiB,
      bootChurnBytes: 4 * MiB,
      jobBytes: 3 * MiB,
      jobMs: 30,
      jobWriteBytesPerSec: 128 * MiB,
      cacheBytesPerJob: MiB,
      maxCacheBytes: 4 * MiB,
      warmCacheBytes: 0,
      zeroedFraction: 0.2,
    }),
    driver: { hintBlocksPerStep: 2 },
    ...overrides,
  });
  if (!vm.boot()) throw new Error('the balloon did not probe');
  return vm;
}

/** A destination for {@link smallBusyGuest}: fresh, or holding an earlier guest's leftovers. */
export function smallDestination(seed: number, used: boolean): Destination {
  if (!used) return new Destination(new CompactMemory({ regions: RAM, patternSeed: seed }));
  const memory = new SparseMemory(RAM);
  for (let pfn = 0; pfn < RAM / 4096; pfn += 3) memory.fill(pfn * 4096, 4096, 0x5c);
  return new Destination(memory, { fresh: false });
}

/** What goes wrong during the first attempt; `at` counts stream chunks (records). */
export type Fault =
  | { kind: 'drop'; at: number } // the channel dies: nothing from record `at` on arrives
  | { kind: 'flip'; at: number; bit: number } // one bit of one record flips on the way
  | { kind: 'truncate'; at: number; keep: number } // the channel dies inside record `at`
  | { kind: 'stall'; at: number; ms: number } // the channel stalls while the guest runs on
  | { kind: 'cancel'; afterMs: number } // the operator cancels
  | { kind: 'source-fail'; at: number } // the source's send fails (a reset connection)
  | { kind: 'pressure'; at: number; pages: number } // the guest needs memory: the shrinker hands back hinted blocks
  | { kind: 'reset'; at: number } // the guest resets the balloon (driver unbound and bound again)
  | { kind: 'restart'; at: number }; // the destination process restarts: a new one on the same memory

/** Any fault, at any record. */
export const faultArbitrary: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(300) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(300), bit: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(300), keep: fc.nat() }),
  fc.record({ kind: fc.constant('stall' as const), at: fc.nat(300), ms: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('cancel' as const), afterMs: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant('source-fail' as const), at: fc.nat(300) }),
  fc.record({ kind: fc.constant('pressure' as const), at: fc.nat(300), pages: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({ kind: fc.constant('reset' as const), at: fc.nat(300) }),
  fc.record({ kind: fc.constant('restart' as const), at: fc.nat(300) }),
);

/** A stream tamper that applies the fault to the channel and the guest when record `index` is sent. */
export function injectFault(f: Fault, vm: Vm): (chunk: Uint8Array, index: number) => Uint8Array | undefined {
  let dead = false;
  return (chunk, index) => {
    if (dead) return undefined;
    if (f.kind === 'cancel' || !('at' in f) || index !== f.at) return chunk;
    switch (f.kind) {
      case 'drop':
      case 'restart':
        dead = true;
        return undefined;
      case 'flip': {
        const flipped = chunk.slice();
        const bit = f.bit % (chunk.length * 8);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        return flipped;
      }
      case 'truncate':
        dead = true;
        return chunk.subarray(0, f.keep % chunk.length);
      case 'stall':
        vm.run(f.ms);
        return chunk;
      case 'source-fail':
        throw new Error('connection reset by peer');
      case 'pressure':
        // The guest acts only while it runs (not during stop-and-copy).
        if (!vm.running) return chunk;
        // Allocations beyond what is free run the shrinkers: the balloon gives back hinted blocks.
        for (let i = 0; i < f.pages; i++) {
          const pfn = vm.kernel.allocPages(0);
          if (pfn === undefined) break;
          vm.kernel.writePage(pfn);
        }
        return chunk;
      case 'reset':
        if (!vm.running) return chunk;
        vm.driver.remove();
        if (!vm.driver.probe()) throw new Error('the balloon did not probe again');
        return chunk;
    }
  };
}

/** One migration fault case: a guest seed, strategies, a fresh or used destination, and the fault to inject. */
export interface FaultCase {
  seed: number;
  strategies: string;
  used: boolean;
  fault: Fault;
}

/** A guest seed, strategies, a fresh or used destination, and a fault. */
export const faultCaseArbitrary: fc.Arbitrary<FaultCase> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 20 }),
  strategies: fc.constantFrom('zero+hint', 'zero+zero-skip+hint', 'hint', 'zero', 'zero+zero-skip'),
  used: fc.boolean(),
  fault: faultArbitrary,
});

/**
 * Whatever goes wrong, a migration either completes with a verified destination, or fails
 * with a typed error and leaves: the destination untouched, the source guest running with all
 * its memory (DONE delivered, held blocks returned), and a retry that loses nothing. `rules`
 * are the engine's safety rules: yours, or freehint's SAFE_PRECOPY_RULES.
 */
export function migrationFaultProperty(rules: PrecopySafetyRules = SAFE_PRECOPY_RULES): fc.IProperty<[FaultCase]> {
  return fc.property(faultCaseArbitrary, ({ seed, strategies, used, fault: f }) => {
    const vm = smallBusyGuest(seed);
    vm.run(5);
    const destination = smallDestination(seed, used);
    destination.memory.dirtyLog.enable();
    const first = migrate(vm, destination, { strategies, tamper: injectFault(f, vm), rules, maxRounds: 6, ...(f.kind === 'cancel' ? { cancelAfterMs: f.afterMs } : {}) });

    if (first.received !== undefined && first.result.status === 'completed') {
      // The fault did not stop it (a stall, memory pressure, a reset, or a fault past the end).
      vm.switchOver(destination.memory, first.received.devices);
      checkDeepEqual(vm.kernel.verify(), [], 'pages the guest finds damaged at the destination');
      return;
    }
    if (first.result.status !== 'cancelled') check(first.error instanceof StreamError || first.error instanceof MigrationError, `an untyped failure: ${String(first.error)}`);
    checkEqual(destination.memory.dirtyLog.count(), 0, 'a failed migration wrote the destination');
    // The source keeps running, with all its memory and with its hinted blocks back.
    vm.run(3);
    vm.settle();
    checkDeepEqual(vm.kernel.verify(), [], 'pages the source guest finds damaged after the failure');
    checkEqual(vm.driver.heldPages, 0, 'the source guest still holds hinted blocks after the failure (no DONE)');
    // The retry, to the same destination or to a restarted one over the same memory.
    const target = f.kind === 'restart' ? new Destination(destination.memory, { fresh: false }) : destination;
    const retry = migrate(vm, target, { strategies, rules });
    checkEqual(retry.error, undefined, 'the retry failed');
    checkEqual(retry.result.status, 'completed', 'the retry did not complete');
    vm.switchOver(target.memory, retry.received!.devices);
    checkDeepEqual(vm.kernel.verify(), [], 'pages the guest finds damaged after the retry');
  });
}
