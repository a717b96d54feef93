import { describe, expect, it } from 'vitest';
import { layoutRing } from '../../../src/guest/driver-queue.js';
import { MmioDriver } from '../../../src/guest/mmio-driver.js';
import { PciDriver } from '../../../src/guest/pci-driver.js';
import { FlatMemory } from '../../../src/memory/flat-memory.js';
import { WatchedMemory } from '../../../src/testing/watched-memory.js';
import { BalloonDevice } from '../../../src/virtio/balloon/balloon-device.js';
import { BalloonFeature } from '../../../src/virtio/balloon/constants.js';
import { featureBit } from '../../../src/virtio/constants.js';
import { MmioReg, MmioTransport } from '../../../src/virtio/transport/mmio.js';
import { PciTransport } from '../../../src/virtio/transport/pci.js';

// §4.2.2.2, §4.1.4.3: the device does not access a queue that is not ready — not when the guest
// kicks it, and not when the host asks for something (stats, hints) — on either transport.

const BUF = 0x80000;
const STATS_AT = 0x20000;
const MOVED_AT = 0x40000;
const STATS = 2;
const FREE_PAGE = 3;

/** The device sees guest memory through a watch; the driver writes RAM directly, as a guest does. */
function memories(): { ram: FlatMemory; watched: WatchedMemory; writes: Array<[number, number]> } {
  const ram = new FlatMemory(1 << 20);
  const watched = new WatchedMemory(ram);
  const writes: Array<[number, number]> = [];
  watched.onWrite = (gpa, length) => void writes.push([gpa, length]);
  return { ram, watched, writes };
}

const features = featureBit(BalloonFeature.STATS_VQ) | featureBit(BalloonFeature.FREE_PAGE_HINT);

/** Whatever the host asks for that could touch a ring. */
function hostRequests(device: BalloonDevice): boolean {
  device.setTarget(device.target + 1);
  device.startHinting();
  device.stopHinting();
  device.doneHinting();
  return device.requestStats();
}

describe('a queue that is not ready is never touched (mmio)', () => {
  function withHeldStats() {
    const { ram, watched, writes } = memories();
    const device = new BalloonDevice(watched, { statsQueue: true, freePageHint: true });
    const mmio = new MmioTransport(device);
    const driver = new MmioDriver(mmio, ram);
    driver.negotiate(features);
    const stats = driver.setupQueue<number>(STATS, layoutRing(STATS_AT, 8));
    driver.driverOk();
    stats.add([{ gpa: BUF, length: 10 }], [], 1);
    driver.kick(STATS, stats);
    expect(stats.getUsed()).toBeUndefined(); // the device holds it
    return { ram, watched, writes, device, mmio, driver };
  }

  const disable = (mmio: MmioTransport, index: number): void => {
    mmio.write(MmioReg.QUEUE_SEL, 4, index);
    mmio.write(MmioReg.QUEUE_READY, 4, 0);
  };

  it('requestStats() after the driver took the stats queue down touches nothing and returns false', () => {
    const s = withHeldStats();
    disable(s.mmio, STATS);
    const accesses = s.watched.accesses;
    expect(hostRequests(s.device)).toBe(false);
    expect(s.watched.accesses).toBe(accesses);
  });

  it('requestStats() after the driver moved the stats rings writes neither the old used ring nor the new one', () => {
    const s = withHeldStats();
    disable(s.mmio, STATS);
    s.mmio.write(MmioReg.QUEUE_DESC_LOW, 4, MOVED_AT);
    const moved = layoutRing(MOVED_AT, 8);
    s.mmio.write(MmioReg.QUEUE_DRIVER_LOW, 4, moved.availRing);
    s.mmio.write(MmioReg.QUEUE_DEVICE_LOW, 4, moved.usedRing);
    expect(s.device.requestStats()).toBe(false);
    s.mmio.write(MmioReg.QUEUE_READY, 4, 1);
    expect(s.device.requestStats()).toBe(false);
    expect(s.writes).toEqual([]);
    expect(s.device.needsResetReason).toBeUndefined();
  });

  it('a queue set up again serves its new buffers as usual', () => {
    const s = withHeldStats();
    disable(s.mmio, STATS);
    // The driver sets the stats queue up again elsewhere, with a new buffer.
    s.mmio.write(MmioReg.QUEUE_SEL, 4, STATS);
    const again = layoutRing(MOVED_AT, 8);
    s.mmio.write(MmioReg.QUEUE_DESC_LOW, 4, again.descTable);
    s.mmio.write(MmioReg.QUEUE_DRIVER_LOW, 4, again.availRing);
    s.mmio.write(MmioReg.QUEUE_DEVICE_LOW, 4, again.usedRing);
    s.ram.fill(again.descTable, again.usedRing + 6 + 8 * 8 - again.descTable, 0);
    s.mmio.write(MmioReg.QUEUE_READY, 4, 1);
    // Without VIRTIO_F_RING_RESET the ring indices go on where they were (as QEMU keeps them).
    s.ram.writeU64(again.descTable, BUF);
    s.ram.writeU32(again.descTable + 8, 10);
    s.ram.writeU16(again.availRing + 4 + 2, 0);
    s.ram.writeU16(again.availRing + 2, 2);
    s.mmio.write(MmioReg.QUEUE_NOTIFY, 4, STATS);
    expect(s.device.requestStats()).toBe(true);
    expect(s.ram.readU16(again.usedRing + 2)).toBe(1);
    expect(s.writes.every(([gpa]) => gpa >= again.descTable && gpa < again.usedRing + 6 + 8 * 8)).toBe(true);
  });

  it('kicks of a queue the driver never enabled, and host requests, touch no memory', () => {
    const { ram, watched } = memories();
    const device = new BalloonDevice(watched, { statsQueue: true, freePageHint: true });
    const mmio = new MmioTransport(device);
    const driver = new MmioDriver(mmio, ram);
    driver.negotiate(features);
    driver.setupQueue(0, layoutRing(0x10000, 8));
    driver.driverOk();
    for (const index of [STATS, FREE_PAGE]) mmio.write(MmioReg.QUEUE_NOTIFY, 4, index);
    expect(hostRequests(device)).toBe(false);
    expect(watched.accesses).toBe(0);
    expect(device.counters.ignoredNotifies).toBe(2);
  });
});

describe('a queue that is not ready is never touched (pci)', () => {
  it('kicks of queues the driver never enabled, and host requests, touch no memory', () => {
    const { ram, watched } = memories();
    const device = new BalloonDevice(watched, { statsQueue: true, freePageHint: true });
    const pci = new PciTransport(device);
    const driver = new PciDriver(pci, ram);
    expect(driver.probe()).toEqual({ deviceId: 5 });
    driver.negotiate(features);
    driver.setupQueue(0, layoutRing(0x10000, 8));
    driver.driverOk();
    for (const index of [STATS, FREE_PAGE]) pci.writeBar(0x80 + 2 * index, 2, index);
    expect(hostRequests(device)).toBe(false);
    expect(watched.accesses).toBe(0);
    expect(device.counters.ignoredNotifies).toBe(2);
  });

  it('after a reset (the only way to take a pci queue down) requestStats() touches nothing', () => {
    const { ram, watched } = memories();
    const device = new BalloonDevice(watched, { statsQueue: true });
    const pci = new PciTransport(device);
    const driver = new PciDriver(pci, ram);
    driver.probe();
    driver.negotiate(featureBit(BalloonFeature.STATS_VQ));
    const stats = driver.setupQueue<number>(STATS, layoutRing(STATS_AT, 8));
    driver.driverOk();
    stats.add([{ gpa: BUF, length: 10 }], [], 1);
    driver.kick(STATS, stats);
    driver.reset();
    const accesses = watched.accesses;
    expect(device.requestStats()).toBe(false);
    expect(watched.accesses).toBe(accesses);
  });
});

describe('what the device holds belongs to its own queue', () => {
  function holding() {
    const { ram, watched } = memories();
    const device = new BalloonDevice(watched, { statsQueue: true });
    const mmio = new MmioTransport(device);
    const driver = new MmioDriver(mmio, ram);
    driver.negotiate(featureBit(BalloonFeature.STATS_VQ));
    driver.setupQueue(0, layoutRing(0x10000, 8));
    const stats = driver.setupQueue<number>(STATS, layoutRing(STATS_AT, 8));
    driver.driverOk();
    stats.add([{ gpa: BUF, length: 10 }], [], 1);
    driver.kick(STATS, stats);
    return { device, mmio };
  }

  it('the stats buffer stays when the driver takes down another queue, or writes QueueReady 1 again', () => {
    const a = holding();
    a.mmio.write(MmioReg.QUEUE_SEL, 4, 0);
    a.mmio.write(MmioReg.QUEUE_READY, 4, 0);
    expect(a.device.requestStats()).toBe(true);
    const b = holding();
    b.mmio.write(MmioReg.QUEUE_SEL, 4, STATS);
    b.mmio.write(MmioReg.QUEUE_READY, 4, 1);
    expect(b.device.requestStats()).toBe(true);
  });

  it('a saved state names a held buffer only when there is one', () => {
    const a = holding();
    expect(a.device.save().statsHead).toBe(0);
    a.device.requestStats();
    expect('statsHead' in a.device.save()).toBe(false);
  });
});
