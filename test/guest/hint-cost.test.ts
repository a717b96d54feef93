import { describe, expect, it } from 'vitest';
import type { GuestCpuCosts } from '../../src/guest/balloon-driver.js';
import type { Workload } from '../../src/guest/workloads.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { Vm } from '../../src/sim/vm.js';

// The balloon driver pays for free page hinting in guest time, as Linux's does: each block is
// taken off the free lists, zeroed when init_on_alloc is on, added to the ring and notified.
// A round then lasts as long as that work takes, and races the migration's first pass.

const MiB = 1 << 20;
const ORDER = 4; // 16-page blocks: 64 KiB
const BLOCK_BYTES = PAGE_SIZE << ORDER;

/** A guest with nothing to do but what the test says; `threads` keep its vCPUs busy. */
function quiet(threads = 0): Workload {
  return { name: 'quiet', threads, boot() {}, step() {} };
}

/** 1 ms a block (take, queue, notify); zeroing one takes `zeroMs`. */
function cpu(zeroMs = 3, firstTouchUsPerPage = 0): GuestCpuCosts {
  return { hintBlockUs: 1000, zeroBytesPerSec: (BLOCK_BYTES * 1000) / zeroMs, firstTouchUsPerPage };
}

function guest(options: { initOnAlloc: boolean; cpu?: GuestCpuCosts; threads?: number; vcpus?: number; lazy?: boolean }): Vm {
  const vm = new Vm({
    ramBytes: 64 * MiB,
    seed: 1,
    memory: 'sparse',
    maxOrder: ORDER,
    workload: quiet(options.threads),
    initOnAlloc: options.initOnAlloc,
    balloon: { freePageHint: true, queueSizes: { freePage: 8 } },
    ...(options.cpu ? { cpu: options.cpu } : {}),
    ...(options.vcpus ? { vcpus: options.vcpus } : {}),
    ...(options.lazy ? { lazyHintQueue: true } : {}),
  });
  expect(vm.boot()).toBe(true);
  return vm;
}

/** Start a round and run `steps` of 1 ms; returns the blocks the round hinted so far. */
function hintFor(vm: Vm, steps: number): number {
  vm.device.startHinting();
  vm.run(steps);
  return vm.driver.rounds[0]?.blocks.length ?? 0;
}

describe('a hint round costs guest time', () => {
  it('one block per ms of worker time when a block costs 1 ms, however many are free', () => {
    const vm = guest({ initOnAlloc: false, cpu: cpu() });
    expect(vm.driver.hintBlockMs()).toBe(1);
    expect(hintFor(vm, 40)).toBe(40);
    expect(vm.driver.hinting).toBe(true); // 64 MiB holds far more than 40 blocks of 64 KiB
  });

  it('init_on_alloc adds the zeroing of each block at the vCPU’s store bandwidth', () => {
    const vm = guest({ initOnAlloc: true, cpu: cpu(3) });
    expect(vm.driver.hintBlockMs()).toBeCloseTo(4, 12);
    expect(hintFor(vm, 40)).toBe(10);
  });

  it('zeroing memory nothing touched since boot pays a host page fault per page; memory the guest used before does not', () => {
    // 1 ms a block, 3 ms to zero it, and 1/16 ms for each of its 16 pages the host must map first.
    const vm = guest({ initOnAlloc: true, cpu: cpu(3, 1000 / 16) });
    expect(vm.driver.hintBlockMs(16)).toBeCloseTo(5, 12);
    expect(vm.driver.hintBlockMs(0)).toBeCloseTo(4, 12);
    // The first round takes memory the guest never touched: 5 ms a block.
    expect(hintFor(vm, 50)).toBe(10);
    // The host gives DONE; the guest frees the blocks, and the next round takes them again: 4 ms a block.
    vm.device.doneHinting();
    vm.run(5);
    expect(vm.driver.heldPages).toBe(0);
    vm.device.startHinting();
    vm.run(40);
    expect(vm.driver.rounds[1]!.blocks.slice(0, 10).sort()).toEqual(vm.driver.rounds[0]!.blocks.slice(0, 10).sort());
    expect(vm.driver.rounds[1]!.blocks.length).toBe(10);
  });

  it('the worker shares the vCPUs with the workload’s threads', () => {
    // Three busy threads on two vCPUs: the worker gets half a vCPU, a block every 2 ms.
    const vm = guest({ initOnAlloc: false, cpu: cpu(), threads: 3, vcpus: 2 });
    expect(vm.workerShare()).toBe(0.5);
    expect(hintFor(vm, 40)).toBe(20);
    // With a vCPU to spare it gets a whole one.
    expect(guest({ initOnAlloc: false, threads: 1, vcpus: 2 }).workerShare()).toBe(1);
  });

  it('without CPU costs the work is free: a round hints every free block at once', () => {
    const vm = guest({ initOnAlloc: true });
    expect(vm.driver.hintBlockMs()).toBe(0);
    hintFor(vm, 1);
    expect(vm.driver.hinting).toBe(false);
    expect(vm.driver.rounds[0]?.stopped).toBe(true);
    expect(vm.driver.heldPages).toBeGreaterThan(vm.kernel.pages.managedPages / 2);
  });
});

describe('a full ring', () => {
  it('keeps the round going: the worker allocates, zeroes and frees a block until the device returns buffers', () => {
    const vm = guest({ initOnAlloc: true, cpu: cpu(1), lazy: true });
    vm.iothreadStalled = true;
    // The ring has 8 slots, one kept for the command id: the round's command and 6 blocks fill it.
    expect(hintFor(vm, 30)).toBe(6);
    expect(vm.driver.hinting).toBe(true);
    expect(vm.driver.rounds[0]?.stopped).toBe(false);
    // Spinning zeroes a free block in every step: the dirty log sees guest writes outside the held blocks.
    const held = new Set(vm.driver.heldBlockList.flatMap((head) => Array.from({ length: 1 << ORDER }, (_, i) => head + i)));
    vm.memory.dirtyLog.enable();
    vm.run(2);
    const dirty: number[] = [];
    for (let pfn = 0; pfn < vm.memory.end / PAGE_SIZE; pfn++) if (vm.memory.dirtyLog.isDirty(pfn) && !held.has(pfn)) dirty.push(pfn);
    expect(dirty.length).toBe(1 << ORDER);
    expect(vm.kernel.pages.isFree(dirty[0]!)).toBe(true);
    // Once the device catches up, the round goes on where it was.
    vm.iothreadStalled = false;
    vm.run(10);
    expect(vm.driver.rounds[0]!.blocks.length).toBeGreaterThan(6);
  });
});
