import { expect } from 'vitest';
import { layoutRing, type DriverQueue } from '../../../src/guest/driver-queue.js';
import { MmioDriver } from '../../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../../src/memory/guest-memory.js';
import { BalloonDevice, type BalloonOptions, type BalloonQueueRole } from '../../../src/virtio/balloon/balloon-device.js';
import { BalloonFeature } from '../../../src/virtio/balloon/constants.js';
import { featureBit } from '../../../src/virtio/constants.js';
import type { InterruptEvent } from '../../../src/virtio/device.js';
import { MmioTransport } from '../../../src/virtio/transport/mmio.js';

// A balloon device driven as a guest drives it: registers, rings in guest memory, nothing else.

const MiB = 1 << 20;
/** Where the driver's buffers live. */
export const BUF = 0x80000;

/** Bits a guest accepts; the device offers what `options` asks for. */
export function bits(options: BalloonOptions): bigint {
  const f = (on: boolean | undefined, bit: number): bigint => (on ? featureBit(bit) : 0n);
  return (
    f(options.mustTellHost, BalloonFeature.MUST_TELL_HOST) |
    f(options.statsQueue, BalloonFeature.STATS_VQ) |
    f(options.deflateOnOom, BalloonFeature.DEFLATE_ON_OOM) |
    f(options.freePageHint, BalloonFeature.FREE_PAGE_HINT) |
    f(options.pagePoison, BalloonFeature.PAGE_POISON) |
    f(options.pageReporting, BalloonFeature.PAGE_REPORTING)
  );
}

export interface Rig {
  memory: GuestMemory;
  device: BalloonDevice;
  mmio: MmioTransport;
  driver: MmioDriver;
  queues: Partial<Record<BalloonQueueRole, DriverQueue<number>>>;
  interrupts: InterruptEvent[];
}

/** Offer `options`, accept `accept` (default: all offered), set every queue up, optionally go live. */
export function rig(options: BalloonOptions, { accept, live = true, memory }: { accept?: BalloonOptions; live?: boolean; memory?: GuestMemory } = {}): Rig {
  const m = memory ?? new FlatMemory(16 * MiB);
  const device = new BalloonDevice(m, options);
  const mmio = new MmioTransport(device);
  const driver = new MmioDriver(mmio, m);
  const interrupts: InterruptEvent[] = [];
  device.interrupt$.subscribe((e) => interrupts.push(e));
  const a = accept ?? options;
  expect(driver.negotiate(bits(a))).toBeDefined();
  // Linux numbers the queues it uses, skipping absent ones (§5.5.2 as drivers implement it).
  const roles: BalloonQueueRole[] = ['inflate', 'deflate'];
  if (a.statsQueue) roles.push('stats');
  if (a.freePageHint) roles.push('freePage');
  if (a.pageReporting) roles.push('reporting');
  const queues: Rig['queues'] = {};
  roles.forEach((role, i) => (queues[role] = driver.setupQueue<number>(i, layoutRing(0x10000 + i * 0x8000, 32))));
  if (live) driver.driverOk();
  return { memory: m, device, mmio, driver, queues, interrupts };
}

/** Put `pfns` on the inflate or deflate queue in one buffer and kick it. */
export function sendPfns(r: Rig, role: 'inflate' | 'deflate', pfns: number[]): void {
  pfns.forEach((pfn, i) => r.memory.writeU32(BUF + 4 * i, pfn));
  r.queues[role]!.add([{ gpa: BUF, length: 4 * pfns.length }], [], pfns.length);
  r.driver.kick(role === 'inflate' ? 0 : 1, r.queues[role]!);
}
