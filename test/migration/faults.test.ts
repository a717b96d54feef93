import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MigrationError } from '../../src/migration/errors.js';
import { SAFE_PIECES } from '../../src/migration/precopy.js';
import { migrate } from '../../src/sim/migrate.js';
import { migrationFaultProperty } from '../../src/testing/migration-faults.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination } from './support.js';

describe('fault injection across a migration', () => {
  it('every fault ends in a verified destination, or a typed failure that the source and a retry survive', () => {
    fc.assert(migrationFaultProperty(), { numRuns: runs(150) });
  });

  it('catches an engine that does not end hinting (DONE) when a migration fails', () => {
    const result = fc.check(migrationFaultProperty({ ...SAFE_PIECES, cleanup: () => undefined }), { numRuns: 300, seed: 11 });
    expect(result.failed).toBe(true);
  });

  it('catches an engine that skips zero pages onto a destination that is not fresh', () => {
    const result = fc.check(migrationFaultProperty({ ...SAFE_PIECES, maySkipZero: () => true }), { numRuns: 300, seed: 12 });
    expect(result.failed).toBe(true);
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
