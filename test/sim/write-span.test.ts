import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hog, idle, type Workload } from '../../src/guest/workloads.js';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { Destination } from '../../src/migration/destination.js';
import { migrate } from '../../src/sim/migrate.js';
import { Vm, type VmOptions } from '../../src/sim/vm.js';
import { runs } from '../support/runs.js';

// A batch that reads from page p on may read past guest steps that only write below p (the
// workload's writeSpan): the migration must be exactly the one whose batches stop at every
// step that writes, wherever it writes.

const MiB = 1 << 20;

/** Batches stop at every step that writes: the reference. */
class StepByStepVm extends Vm {
  override quietMs(maxMs: number): number {
    return super.quietMs(maxMs, 0);
  }
}

/** Batches read past writes wherever they land: what the property must catch. */
class ReadPastWritesVm extends Vm {
  override quietMs(maxMs: number): number {
    return super.quietMs(maxMs, Number.POSITIVE_INFINITY);
  }
}

interface Case {
  readonly seed: number;
  readonly workload: 'idle' | 'hog';
  readonly dirtyMiBPerSec: number;
  readonly strategies: string;
}

const cases: fc.Arbitrary<Case> = fc.record({
  seed: fc.nat(1000),
  workload: fc.constantFrom('idle' as const, 'hog' as const),
  dirtyMiBPerSec: fc.constantFrom(1, 16, 64),
  strategies: fc.constantFrom('none', 'zero', 'zero+zero-skip', 'zero+hint'),
});

function workloadOf(c: Case): Workload {
  return c.workload === 'idle' ? idle({ residentBytes: 8 * MiB, bootChurnBytes: 4 * MiB, dirtyBytesPerSec: c.dirtyMiBPerSec * MiB }) : hog({ workingSetBytes: 12 * MiB, dirtyBytesPerSec: c.dirtyMiBPerSec * MiB });
}

/** Everything the migration produced: its figures, its stream byte for byte, and the guest's pages at the end. */
function migrateWith(make: new (options: VmOptions) => Vm, c: Case): string {
  const ramBytes = 64 * MiB;
  const vm = new make({ ramBytes, seed: c.seed, workload: workloadOf(c) });
  if (!vm.boot()) throw new Error('the balloon did not probe');
  vm.run(20);
  const stream = createHash('sha256');
  const m = migrate(vm, new Destination(new CompactMemory({ regions: ramBytes, patternSeed: c.seed })), {
    strategies: c.strategies,
    tamper: (chunk) => {
      stream.update(chunk);
      return chunk;
    },
  });
  if (m.error) throw m.error;
  const { rounds, totalMs, bytes, normalPages, zeroPages, skippedZeroPages, hintedPages } = m.result;
  const versions = Array.from({ length: ramBytes / PAGE_SIZE }, (_, pfn) => vm.kernel.versionOf(pfn)).join(',');
  return JSON.stringify({ rounds, totalMs: totalMs.toFixed(6), bytes, normalPages, zeroPages, skippedZeroPages, hintedPages, stream: stream.digest('hex'), versions });
}

describe('batches that read past writes below them', () => {
  it('the idle and hog workloads say where they write, once booted', () => {
    for (const workload of [idle({ residentBytes: 8 * MiB }), hog({ workingSetBytes: 12 * MiB })]) {
      expect(workload.writeSpan?.()).toBeUndefined();
      const vm = new Vm({ ramBytes: 64 * MiB, seed: 3, workload });
      vm.boot();
      const span = workload.writeSpan?.();
      expect(span).toBeDefined();
      // Every page it writes from now on lies in the span.
      vm.memory.dirtyLog.enable();
      vm.run(500);
      const written: number[] = [];
      vm.memory.dirtyLog.drain((w, word) => {
        for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) written.push(w * 32 + bit);
      });
      expect(written.length).toBeGreaterThan(10);
      expect(written.every((pfn) => pfn >= span!.first && pfn < span!.end)).toBe(true);
      // A batch from the span's end on may read ahead for as long as it likes; one inside it may not.
      expect(vm.quietMs(1000, span!.end)).toBe(1000);
      expect(vm.quietMs(1000, span!.end - 1)).toBeLessThan(1000);
    }
  });

  it('make the same migration as batches that stop at every step that writes', () => {
    fc.assert(
      fc.property(cases, (c) => {
        expect(migrateWith(Vm, c), 'the stream differs from the one of batches that stop at every write').toBe(migrateWith(StepByStepVm, c));
      }),
      { numRuns: runs(12) },
    );
  });

  it('the property catches batches that read past writes inside them', () => {
    const failure = fc.check(
      fc.property(cases, (c) => {
        expect(migrateWith(ReadPastWritesVm, c), 'the stream differs from the one of batches that stop at every write').toBe(migrateWith(StepByStepVm, c));
      }),
      { numRuns: 30, seed: 11 },
    );
    expect(failure.failed).toBe(true);
    expect(String(failure.errorInstance)).toMatch(/the stream differs from the one of batches that stop at every write/);
  });
});
