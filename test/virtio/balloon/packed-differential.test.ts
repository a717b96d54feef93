import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BalloonDriver } from '../../../src/guest/balloon-driver.js';
import { GuestKernel } from '../../../src/guest/kernel.js';
import { MmioDriver } from '../../../src/guest/mmio-driver.js';
import { PAGE_SIZE } from '../../../src/memory/guest-memory.js';
import { SparseMemory } from '../../../src/memory/sparse-memory.js';
import type { GuestMemory } from '../../../src/memory/guest-memory.js';
import { BalloonDevice, type BalloonOptions } from '../../../src/virtio/balloon/balloon-device.js';
import { RingEventFlag } from '../../../src/virtio/constants.js';
import { PackedQueue } from '../../../src/virtio/packed-queue.js';
import { MmioTransport } from '../../../src/virtio/transport/mmio.js';
import { runs } from '../../support/runs.js';

// The differential property: the same guest (the simulated Linux balloon driver, the same
// allocations) and the same host actions over a device that offers VIRTIO_F_RING_PACKED and
// one that does not give the same device-visible results, event for event: inflated and
// deflated PFNs, `actual`, stats, hints under each command id, reported ranges, and the guest's
// memory at the end. Only the ring layout differs.

const RAM = 64 << 20;
const FEATURES: BalloonOptions = { mustTellHost: true, statsQueue: true, deflateOnOom: true, freePageHint: true, pageReporting: true };

type Action =
  | { readonly kind: 'target'; readonly pages: number }
  | { readonly kind: 'start' | 'stop' | 'done' | 'stats' | 'oom' }
  | { readonly kind: 'alloc'; readonly order: number; readonly count: number }
  | { readonly kind: 'free'; readonly pick: number }
  | { readonly kind: 'shrink'; readonly pages: number }
  | { readonly kind: 'steps'; readonly count: number };

/** One run: every device-visible event, the layout the queues had, and the guest's state at the end. */
function trace(makeDevice: (memory: GuestMemory) => BalloonDevice, actions: readonly Action[]): { layouts: string[]; events: string[] } {
  const memory = new SparseMemory(RAM);
  const device = makeDevice(memory);
  const events: string[] = [];
  device.inflate$.subscribe((pfns) => events.push(`inflate ${pfns.join(',')}`));
  device.deflate$.subscribe((pfns) => events.push(`deflate ${pfns.join(',')}`));
  device.actual$.subscribe((n) => events.push(`actual ${n}`));
  device.stats$.subscribe((s) => events.push(`stats ${JSON.stringify(s)}`));
  device.hints$.subscribe((b) => events.push(`hints ${b.cmdId} ${b.ranges.map((r) => `${r.gpa}+${r.length}`).join(',')}`));
  device.reported$.subscribe((rs) => events.push(`reported ${rs.map((r) => `${r.gpa}+${r.length}`).join(',')}`));
  device.errors$.subscribe((e) => events.push(`error ${e.kind}: ${e.message}`));
  const transport = new MmioTransport(device);
  const kernel = new GuestKernel({ memory, seed: 3, initOnAlloc: false, maxOrder: 8, reserved: [[0, 1024]] });
  const pages = kernel.pages;
  const driver = new BalloonDriver(new MmioDriver(transport, memory), memory, pages, { hintBlocksPerStep: 3 }, () => ({
    freeBytes: pages.freePages * PAGE_SIZE,
    totalBytes: pages.managedPages * PAGE_SIZE,
    availableBytes: pages.freePages * PAGE_SIZE,
    cacheBytes: 0,
    majorFaults: 0,
    minorFaults: 0,
  }));
  kernel.registerShrinker((wanted) => driver.shrink(wanted));
  kernel.registerOomNotifier(() => driver.deflateOnOom());
  let now = 0;
  /** A vCPU step: the interrupt first, then the balloon's work (2 s of simulated time, so that reporting runs). */
  const step = (): boolean => {
    now += 2000;
    if (device.interruptStatus !== 0) driver.handleInterrupt();
    return driver.step(now) || device.interruptStatus !== 0;
  };
  const settle = (): void => {
    for (let i = 0; i < 200 && step(); i++);
  };
  expect(driver.probe()).toBe(true);
  settle();
  const held: Array<[number, number]> = [];
  for (const a of actions) {
    switch (a.kind) {
      case 'target':
        device.setTarget(a.pages);
        break;
      case 'start':
        device.startHinting();
        break;
      case 'stop':
        device.stopHinting();
        break;
      case 'done':
        device.doneHinting();
        break;
      case 'stats':
        device.requestStats();
        break;
      case 'oom':
        events.push(`oom ${driver.deflateOnOom()}`);
        break;
      case 'alloc':
        for (let i = 0; i < a.count; i++) {
          const pfn = kernel.allocPages(a.order);
          if (pfn === undefined) break;
          held.push([pfn, a.order]);
          for (let p = pfn; p < pfn + (1 << a.order); p++) kernel.writePage(p);
        }
        break;
      case 'free': {
        const [block] = held.splice(a.pick % Math.max(1, held.length), 1);
        if (block) kernel.freePages(...block);
        break;
      }
      case 'shrink':
        events.push(`shrunk ${driver.shrink(a.pages)}`);
        break;
      case 'steps':
        for (let i = 0; i < a.count; i++) step();
        break;
    }
  }
  settle();
  events.push(`end: free ${pages.freePages}, inflated ${driver.inflatedPages}, held ${driver.heldPages}, wrong pages ${kernel.verify().length}`);
  return { layouts: device.queues.map((q) => q.layout), events };
}

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.integer({ min: 0, max: 3000 }).map((pages): Action => ({ kind: 'target', pages })),
  fc.constantFrom<Action>({ kind: 'start' }, { kind: 'stop' }, { kind: 'done' }, { kind: 'stats' }, { kind: 'oom' }),
  fc.record({ kind: fc.constant('alloc' as const), order: fc.integer({ min: 0, max: 8 }), count: fc.integer({ min: 1, max: 20 }) }),
  fc.nat().map((pick): Action => ({ kind: 'free', pick })),
  fc.integer({ min: 1, max: 2048 }).map((pages): Action => ({ kind: 'shrink', pages })),
  fc.integer({ min: 1, max: 6 }).map((count): Action => ({ kind: 'steps', count })),
);

/** The property, with the packed run's device made by `makePacked` (a broken twin, or the real one). */
function sameOverBothLayouts(makePacked: (memory: GuestMemory, options: BalloonOptions) => BalloonDevice) {
  return fc.property(fc.boolean(), fc.boolean(), fc.array(action, { maxLength: 25 }), (indirect, eventIdx, actions) => {
    const options = { ...FEATURES, indirectDesc: indirect, eventIdx };
    const split = trace((m) => new BalloonDevice(m, options), actions);
    const packed = trace((m) => makePacked(m, { ...options, packedRing: true }), actions);
    expect(split.layouts.every((l) => l === 'split') && packed.layouts.every((l) => l === 'packed')).toBe(true);
    expect(packed.events, 'the device sees the same over either ring layout').toEqual(split.events);
  });
}

/** A packed queue that asks the driver never to kick. */
class NeverKicked extends PackedQueue {
  override setKicks(): void {
    this.memory.writeU16(this.deviceEvent + 2, RingEventFlag.DISABLE);
  }
}

class NeverKickedBalloon extends BalloonDevice {
  protected override newPackedQueue(maxSize: number): PackedQueue {
    return new NeverKicked(this.memory, maxSize);
  }
}

describe('the balloon over split and packed rings', () => {
  it('gives the same device-visible results for the same driver workload', () => {
    fc.assert(
      sameOverBothLayouts((m, o) => new BalloonDevice(m, o)),
      { numRuns: runs(40) },
    );
  });

  it('catches a packed device that suppresses every kick: what the device sees falls behind', () => {
    const result = fc.check(
      sameOverBothLayouts((m, o) => new NeverKickedBalloon(m, o)),
      { numRuns: runs(40) },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/the device sees the same over either ring layout/);
  });
});
