import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Destination } from '../../src/migration/destination.js';
import { MigrationError } from '../../src/migration/errors.js';
import { SAFE_PIECES, type EnginePieces } from '../../src/migration/precopy.js';
import { StreamError } from '../../src/migration/stream.js';
import { migrate } from '../../src/sim/migrate.js';
import type { Vm } from '../../src/sim/vm.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination, usedDestination } from './support.js';

/** What goes wrong during the first attempt; `at` counts stream chunks (records). */
type Fault =
  | { kind: 'drop'; at: number } // the channel dies: nothing from record `at` on arrives
  | { kind: 'flip'; at: number; bit: number } // one bit of one record flips on the way
  | { kind: 'truncate'; at: number; keep: number } // the channel dies inside record `at`
  | { kind: 'stall'; at: number; ms: number } // the channel stalls while the guest runs on
  | { kind: 'cancel'; afterMs: number } // the operator cancels
  | { kind: 'source-fail'; at: number } // the source's send fails (a reset connection)
  | { kind: 'pressure'; at: number; pages: number } // the guest needs memory: the shrinker hands back hinted blocks
  | { kind: 'reset'; at: number } // the guest resets the balloon (driver unbound and bound again)
  | { kind: 'restart'; at: number }; // the destination process restarts: a new one on the same memory

const fault: fc.Arbitrary<Fault> = fc.oneof(
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

/** What the fault does to the channel and the guest when record `index` is sent. */
function inject(f: Fault, vm: Vm): (chunk: Uint8Array, index: number) => Uint8Array | undefined {
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
        // Allocations beyond what is free run the shrinkers: the balloon gives back hinted blocks.
        for (let i = 0; i < f.pages; i++) {
          const pfn = vm.kernel.allocPages(0);
          if (pfn === undefined) break;
          vm.kernel.writePage(pfn);
        }
        return chunk;
      case 'reset':
        vm.driver.remove();
        if (!vm.driver.probe()) throw new Error('the balloon did not probe again');
        return chunk;
    }
  };
}

interface Case {
  seed: number;
  strategies: string;
  used: boolean;
  fault: Fault;
}

const cases: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 20 }),
  strategies: fc.constantFrom('zero+hint', 'zero+zero-skip+hint', 'hint', 'zero', 'zero+zero-skip'),
  used: fc.boolean(),
  fault,
});

/**
 * Whatever goes wrong, a migration either completes with a verified destination, or fails
 * with a typed error and leaves: the destination untouched, the source guest running with all
 * its memory (DONE delivered, held blocks returned), and a retry that loses nothing.
 */
function survivesFaults(pieces: EnginePieces = SAFE_PIECES) {
  return fc.property(cases, ({ seed, strategies, used, fault: f }) => {
    const vm = busyGuest(seed);
    vm.run(5);
    const destination = used ? usedDestination() : freshDestination(seed);
    destination.memory.dirtyLog.enable();
    const first = migrate(vm, destination, { strategies, tamper: inject(f, vm), pieces, maxRounds: 6, ...(f.kind === 'cancel' ? { cancelAfterMs: f.afterMs } : {}) });

    if (first.received !== undefined && first.result.status === 'completed') {
      // The fault did not stop it (a stall, memory pressure, a reset, or a fault past the end).
      vm.switchOver(destination.memory, first.received.devices);
      expect(vm.kernel.verify()).toEqual([]);
      return;
    }
    if (first.result.status !== 'cancelled') expect(first.error instanceof StreamError || first.error instanceof MigrationError).toBe(true);
    expect(destination.memory.dirtyLog.count()).toBe(0);
    // The source keeps running, with all its memory and with its hinted blocks back.
    vm.run(3);
    vm.settle();
    expect(vm.kernel.verify()).toEqual([]);
    expect(vm.driver.heldPages).toBe(0);
    // The retry, to the same destination or to a restarted one over the same memory.
    const target = f.kind === 'restart' ? new Destination(destination.memory, { fresh: false }) : destination;
    const retry = migrate(vm, target, { strategies, pieces });
    expect(retry.error).toBeUndefined();
    expect(retry.result.status).toBe('completed');
    vm.switchOver(target.memory, retry.received!.devices);
    expect(vm.kernel.verify()).toEqual([]);
  });
}

describe('fault injection across a migration', () => {
  it('every fault ends in a verified destination, or a typed failure that the source and a retry survive', () => {
    fc.assert(survivesFaults(), { numRuns: runs(150) });
  });

  it('catches an engine that does not end hinting (DONE) when a migration fails', () => {
    const result = fc.check(survivesFaults({ ...SAFE_PIECES, cleanup: () => undefined }), { numRuns: 300, seed: 11 });
    expect(result.failed).toBe(true);
  });

  it('catches an engine that skips zero pages onto a destination that is not fresh', () => {
    const result = fc.check(survivesFaults({ ...SAFE_PIECES, maySkipZero: () => true }), { numRuns: 300, seed: 12 });
    expect(result.failed).toBe(true);
  });

  it('a send that fails during stop-and-copy resumes the source and puts its overlays back', () => {
    const vm = busyGuest(5);
    // The guest gives the hypervisor a page of its own for the hypercall overlay.
    const page = vm.kernel.allocPages(0)!;
    vm.overlays.add(page, { kind: 'hypercall', params: [1] });
    const seen = vm.memory.read(page * 4096, 4096);
    let chunks = 0;
    const destination = freshDestination(5);
    // Count the records of a whole migration first, then fail on the last page record.
    migrate(busyGuest(5), freshDestination(5), { strategies: 'zero+hint', tamper: (c) => (chunks++, c) });
    const m = migrate(vm, destination, {
      strategies: 'zero+hint',
      tamper: (c, i) => {
        if (i === chunks - 3) throw new Error('source NIC down');
        return c;
      },
    });
    expect(m.result.status).toBe('failed');
    expect(m.error).toBeInstanceOf(MigrationError);
    expect((m.error as MigrationError).kind).toBe('source-failed');
    // Running again: a step moves the guest on; the overlay shows as before.
    const before = vm.kernel.counters.pagesWritten;
    vm.run(20);
    expect(vm.kernel.counters.pagesWritten).toBeGreaterThan(before);
    expect(vm.overlays.pfns()).toEqual([page]);
    expect(Buffer.compare(vm.memory.read(page * 4096, 4096), seen)).toBe(0);
    expect(vm.kernel.verify()).toEqual([]);
  });
});
