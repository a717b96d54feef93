import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MigrationError } from '../../src/migration/errors.js';
import { SAFE_PRECOPY_RULES } from '../../src/migration/safety-rules.js';
import { migrate } from '../../src/sim/migrate.js';
import { migrationFaultProperty, type FaultCase } from '../../src/testing/migration-faults.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination } from './support.js';

describe('fault injection across a migration', () => {
  // 150 runs in five slices from their own seeds, so that no single test runs for long.
  it.each([1, 2, 3, 4, 5])('every fault ends in a verified destination, or a typed failure that the source and a retry survive (slice %i)', (slice) => {
    fc.assert(migrationFaultProperty(), { numRuns: Math.ceil(runs(150) / 5), seed: 11_000 + slice });
  });

  it('catches an engine that does not end hinting (DONE) when a migration fails', () => {
    // An operator who cancels once the guest has hinted: then random faults.
    const cancelled: FaultCase = { seed: 3, strategies: 'zero+hint', used: false, fault: { kind: 'cancel', afterMs: 2 } };
    const result = fc.check(migrationFaultProperty({ ...SAFE_PRECOPY_RULES, cleanup: () => undefined }), { numRuns: 20, seed: 11, endOnFailure: true, examples: [[cancelled]] });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/the source guest still holds hinted blocks after the failure \(no DONE\)/);
  });

  it('catches an engine that skips zero pages onto a destination that is not fresh', () => {
    // A migration that completes onto a used destination, its zero pages skipped: then random faults.
    const used: FaultCase = { seed: 3, strategies: 'zero+zero-skip', used: true, fault: { kind: 'stall', at: 1, ms: 1 } };
    const result = fc.check(migrationFaultProperty({ ...SAFE_PRECOPY_RULES, maySkipZero: () => true }), { numRuns: 20, seed: 12, endOnFailure: true, examples: [[used]] });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/pages the guest finds damaged (at the destination|after the retry)/);
  });

  it('a send that fails during stop-and-copy resumes the source and puts its overlays back', () => {
    const vm = busyGuest(5);
    // The guest gives the hypervisor a page of its own for the hypercall overlay.
    const page = vm.kernel.allocPages(0)!;
    vm.overlays.add(page, { kind: 'hypercall', params: [1] });
    const seen = vm.memory.read(page * 4096, 4096);
    const destination = freshDestination(5);
    // The first record after the guest stopped fails to go out.
    let paused = false;
    const pause = vm.pause.bind(vm);
    vm.pause = () => {
      paused = true;
      pause();
    };
    const m = migrate(vm, destination, {
      strategies: 'zero+hint',
      tamper: (c) => {
        if (paused) throw new Error('source NIC down');
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
