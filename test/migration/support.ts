import { compile } from '../../src/guest/workloads.js';
import { CompactMemory } from '../../src/memory/compact-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { SparseMemory } from '../../src/memory/sparse-memory.js';
import { Destination } from '../../src/migration/destination.js';
import { Vm, type VmOptions } from '../../src/sim/vm.js';

export const MiB = 1 << 20;
export const RAM = 32 * MiB;

/** A small guest running a build, busy enough to allocate, free and rewrite during a migration. */
export function busyGuest(seed: number, overrides: Partial<VmOptions> = {}): Vm {
  const vm = new Vm({
    ramBytes: RAM,
    seed,
    memory: 'compact',
    initOnAlloc: false,
    workload: compile({ residentBytes: 4 * MiB, bootChurnBytes: 4 * MiB, jobBytes: 3 * MiB, jobMs: 30, jobWriteBytesPerSec: 128 * MiB, cacheBytesPerJob: MiB, maxCacheBytes: 4 * MiB, warmCacheBytes: 0, zeroedFraction: 0.2 }),
    driver: { hintBlocksPerStep: 2 },
    ...overrides,
  });
  if (!vm.boot()) throw new Error('probe failed');
  return vm;
}

export function freshDestination(seed: number): Destination {
  return new Destination(new CompactMemory({ regions: RAM, patternSeed: seed }));
}

/** A destination whose memory holds leftovers of an earlier guest (not known to be zero). */
export function usedDestination(): Destination {
  const memory = new SparseMemory(RAM);
  for (let pfn = 0; pfn < RAM / PAGE_SIZE; pfn += 3) memory.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0x5c);
  return new Destination(memory, { fresh: false });
}

/**
 * I1: every page the paused source guest uses — its kernel's pages, what it allocated and did
 * not give to the balloon — reads the same on the destination. Returns the pages that differ.
 */
export function lostPages(vm: Vm, destination: Destination): number[] {
  const held = new Set<number>();
  for (const head of vm.driver.heldBlockList) for (let p = head; p < head + (1 << vm.driver.hintOrder); p++) held.add(p);
  const ballooned = new Set(vm.driver.balloonedPfns);
  const lost: number[] = [];
  for (let pfn = 0; pfn < RAM / PAGE_SIZE; pfn++) {
    const inUse = vm.kernel.versionOf(pfn) !== 0 || (vm.kernel.pages.isAllocated(pfn) && !held.has(pfn) && !ballooned.has(pfn));
    if (!inUse) continue;
    const a = vm.memory.read(pfn * PAGE_SIZE, PAGE_SIZE);
    const b = destination.memory.read(pfn * PAGE_SIZE, PAGE_SIZE);
    if (Buffer.compare(a, b) !== 0) lost.push(pfn);
  }
  return lost;
}
