import { layoutRing } from '../src/guest/driver-queue.js';
import { MmioDriver } from '../src/guest/mmio-driver.js';
import { CompactMemory } from '../src/memory/compact/compact-memory.js';
import { PAGE_SIZE } from '../src/memory/guest-memory.js';
import { PageBitmap } from '../src/memory/page-bitmap.js';
import { BalloonDevice } from '../src/virtio/balloon/balloon-device.js';
import { BalloonFeature } from '../src/virtio/balloon/constants.js';
import { Feature, featureBit } from '../src/virtio/constants.js';
import { MmioTransport } from '../src/virtio/transport/mmio.js';
import { atLeast, opsPerSecond, type Benchmark } from './harness.js';

const BLOCK = 4 << 20;

/** 4 MiB hint blocks per second from the driver's kick to the bitmap clear in a `hints$` subscriber. */
function hintBlocks(ms: number): number {
  const memory = new CompactMemory({ regions: 1 << 30, patternSeed: 1 });
  const device = new BalloonDevice(memory, { freePageHint: true });
  // The migration's side: each hinted range is cleared from a dirty bitmap of every page.
  const bitmap = new PageBitmap(memory.end / PAGE_SIZE);
  bitmap.addRange(0, memory.end / PAGE_SIZE);
  let received = 0;
  device.hints$.subscribe((b) => {
    for (const r of b.ranges) bitmap.deleteRange(r.gpa / PAGE_SIZE, r.length / PAGE_SIZE);
    received += b.ranges.length;
  });
  const driver = new MmioDriver(new MmioTransport(device), memory);
  driver.negotiate(featureBit(BalloonFeature.FREE_PAGE_HINT) | featureBit(Feature.EVENT_IDX));
  const queue = driver.setupQueue<number>(2, layoutRing(0x10000, 1024), { eventIdx: true });
  driver.driverOk();
  const id = device.startHinting()!;
  memory.writeU32(0x1000, id);
  queue.add([{ gpa: 0x1000, length: 4 }], [], 0);
  driver.kick(2, queue);
  queue.drainUsed();
  let block = 0;
  const rate = opsPerSecond(
    () => {
      // Linux's pattern: drain used buffers, queue one block as one in-buffer, kick.
      queue.drainUsed();
      queue.add([], [{ gpa: BLOCK * (1 + (block++ % 200)), length: BLOCK }], block);
      driver.kick(2, queue);
    },
    1,
    ms,
  );
  if (received === 0) throw new Error('no hints arrived');
  return rate;
}

export const hints: Benchmark = {
  name: 'hints',
  figures({ quick }) {
    const rate = hintBlocks(quick ? 100 : 1000);
    return [{ name: 'free page hints, 4 MiB blocks from kick to bitmap clear', value: rate, unit: 'blocks/s', goal: atLeast('P4', rate, 1e6, ' blocks/s') }];
  },
};
