import { describe, expect, it } from 'vitest';
import { compile } from '../../src/guest/workloads.js';
import { Vm } from '../../src/sim/vm.js';

const MiB = 1 << 20;

/** Everything observable of a run: hints, writes, and the final memory state. */
function trace(seed: number): string[] {
  const vm = new Vm({
    ramBytes: 256 * MiB,
    seed,
    memory: 'sparse',
    workload: compile({ residentBytes: 32 * MiB, bootChurnBytes: 16 * MiB, jobBytes: 8 * MiB, jobMs: 40, jobWriteBytesPerSec: 64 * MiB, maxCacheBytes: 32 * MiB }),
    driver: { hintBlocksPerStep: 4 },
  });
  const events: string[] = [];
  vm.device.hints$.subscribe((b) => events.push(`hint ${b.cmdId} ${b.ranges.map((r) => `${r.gpa}+${r.length}`).join(',')}`));
  vm.memory.dirtyLog.enable();
  vm.boot();
  for (let round = 0; round < 3; round++) {
    vm.device.startHinting();
    vm.run(20);
    vm.device.stopHinting();
    const dirty = [];
    for (let w = 0; w < vm.memory.dirtyLog.words.length; w++) dirty.push(vm.memory.dirtyLog.takeWord(w));
    events.push(`dirty ${dirty.join(',')}`);
  }
  vm.device.doneHinting();
  vm.run(5);
  events.push(`free ${vm.kernel.pages.freePages} written ${vm.kernel.counters.pagesWritten} held ${vm.driver.heldPages}`);
  return events;
}

describe('Vm', () => {
  it('replays the same hints and writes for the same seed (I7), and differs for another', () => {
    const a = trace(11);
    expect(trace(11)).toEqual(a);
    expect(trace(12)).not.toEqual(a);
    expect(a.some((e) => e.startsWith('hint '))).toBe(true);
  });

  it('boots a guest whose driver holds hinted blocks until DONE, and verifies clean', () => {
    const vm = new Vm({ ramBytes: 128 * MiB, seed: 3, memory: 'compact' });
    expect(vm.boot()).toBe(true);
    const freeBefore = vm.kernel.pages.freePages;
    vm.device.startHinting();
    vm.run(5);
    expect(vm.driver.heldPages).toBeGreaterThan(0);
    expect(vm.kernel.pages.freePages).toBe(freeBefore - vm.driver.heldPages);
    vm.device.doneHinting();
    vm.run(2);
    expect(vm.driver.heldPages).toBe(0);
    expect(vm.kernel.pages.freePages).toBe(freeBefore);
    expect(vm.kernel.verify()).toEqual([]);
  });

  it('rejects a RAM size that is not whole 4 MiB blocks, or too small for the kernel, with a clear RangeError', () => {
    expect(() => new Vm({ ramBytes: 5 * MiB + 4096, seed: 1 })).toThrow(RangeError);
    // 8 MiB cannot hold the kernel image at 16 MiB: said before anything touches memory.
    expect(() => new Vm({ ramBytes: 8 * MiB, seed: 1 })).toThrow(new RangeError("guest RAM of 8388608 bytes: expected a multiple of 4 MiB from 32 MiB (the kernel's image ends there) to 1 TiB"));
    expect(() => new Vm({ ramBytes: 64 * MiB, seed: 1, vcpus: 0 })).toThrow(new RangeError('0 vCPUs: expected a whole number from 1 to 1024'));
  });
});
