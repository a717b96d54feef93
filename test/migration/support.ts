import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import type { Destination } from '../../src/migration/destination.js';
import type { Vm } from '../../src/sim/vm.js';
import { SMALL_GUEST_RAM, smallBusyGuest, smallDestination } from '../../src/testing/migration-faults.js';

export const MiB = 1 << 20;
export const RAM = SMALL_GUEST_RAM;

/** A small guest running a build, busy enough to allocate, free and rewrite during a migration. */
export const busyGuest = smallBusyGuest;

export function freshDestination(seed: number): Destination {
  return smallDestination(seed, false);
}

/** A destination whose memory holds leftovers of an earlier guest (not known to be zero). */
export function usedDestination(): Destination {
  return smallDestination(0, true);
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
