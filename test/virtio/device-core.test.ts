import { describe, expect, it } from 'vitest';
import { layoutRing } from '../../src/guest/driver-queue.js';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { Feature, Status, featureBit } from '../../src/virtio/constants.js';
import type { InterruptEvent } from '../../src/virtio/device.js';
import { MMIO_MAGIC, MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';

const RING = layoutRing(0x1000, 8);

function rig(features = featureBit(Feature.EVENT_IDX)) {
  const memory = new FlatMemory(1 << 20);
  const device = new EchoDevice(memory, 8, features);
  const mmio = new MmioTransport(device);
  const driver = new MmioDriver(mmio, memory);
  const interrupts: InterruptEvent[] = [];
  device.interrupt$.subscribe((e) => interrupts.push(e));
  const levels: boolean[] = [];
  device.irqLevel$.subscribe((l) => levels.push(l));
  return { memory, device, mmio, driver, interrupts, levels };
}

/** A full, correct bring-up; returns the driver side of queue 0. */
function live(r: ReturnType<typeof rig>) {
  expect(r.driver.negotiate(0n)).toBeDefined();
  const q = r.driver.setupQueue<number>(0, RING);
  r.driver.driverOk();
  return q;
}

/** Put one echo request on the ring and kick. */
function echo(r: ReturnType<typeof rig>, q: ReturnType<typeof live>, token: number): void {
  r.memory.writeU32(0x8000, token);
  q.add([{ gpa: 0x8000, length: 4 }], [{ gpa: 0x9000, length: 4 }], token);
  r.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
}

describe('feature negotiation (§2.2, §3.1.1)', () => {
  it('offers VERSION_1 plus the device bits, in 32-bit windows', () => {
    const r = rig(featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC));
    r.mmio.write(MmioReg.DEVICE_FEATURES_SEL, 4, 0);
    expect(r.mmio.read(MmioReg.DEVICE_FEATURES, 4)).toBe((1 << 28) | (1 << 29));
    r.mmio.write(MmioReg.DEVICE_FEATURES_SEL, 4, 1);
    expect(r.mmio.read(MmioReg.DEVICE_FEATURES, 4)).toBe(1); // bit 32
    r.mmio.write(MmioReg.DEVICE_FEATURES_SEL, 4, 7);
    expect(r.mmio.read(MmioReg.DEVICE_FEATURES, 4)).toBe(0);
  });

  it('refuses FEATURES_OK for a bit that was not offered', () => {
    const r = rig(0n);
    r.driver.addStatus(Status.ACKNOWLEDGE | Status.DRIVER);
    r.driver.writeFeatures(featureBit(Feature.VERSION_1) | featureBit(Feature.RING_PACKED));
    r.driver.addStatus(Status.FEATURES_OK);
    expect(r.driver.status & Status.FEATURES_OK).toBe(0);
    expect(r.device.counters.refusedFeatures).toBe(1);
  });

  it('refuses FEATURES_OK without VERSION_1', () => {
    const r = rig(0n);
    r.driver.addStatus(Status.ACKNOWLEDGE | Status.DRIVER);
    r.driver.writeFeatures(0n);
    r.driver.addStatus(Status.FEATURES_OK);
    expect(r.driver.status & Status.FEATURES_OK).toBe(0);
  });

  it('ignores feature writes once FEATURES_OK is set', () => {
    const r = rig();
    r.driver.negotiate(0n);
    r.driver.writeFeatures(featureBit(Feature.EVENT_IDX) | featureBit(Feature.VERSION_1));
    expect(r.device.negotiatedFeatures).toBe(featureBit(Feature.VERSION_1));
    expect(r.device.counters.refusedFeatures).toBeGreaterThan(0);
  });
});

describe('the status state machine (§2.1)', () => {
  it('goes NEEDS_RESET when DRIVER_OK comes before FEATURES_OK, with a config interrupt', () => {
    const r = rig();
    r.driver.addStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK);
    expect(r.device.status & Status.DEVICE_NEEDS_RESET).toBe(Status.DEVICE_NEEDS_RESET);
    expect(r.device.needsResetReason?.kind).toBe('bad-status-transition');
    expect(r.interrupts).toContainEqual({ kind: 'config' });
  });

  it('goes NEEDS_RESET when the driver clears a status bit', () => {
    const r = rig();
    live(r);
    r.mmio.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE);
    expect(r.device.needsResetReason?.kind).toBe('bad-status-transition');
  });

  it('checks the ring layout at DRIVER_OK', () => {
    const r = rig();
    r.driver.negotiate(0n);
    r.mmio.write(MmioReg.QUEUE_SEL, 4, 0);
    r.mmio.write(MmioReg.QUEUE_NUM, 4, 8);
    r.mmio.write(MmioReg.QUEUE_DESC_LOW, 4, 0x1008); // not 16-byte aligned
    r.mmio.write(MmioReg.QUEUE_READY, 4, 1);
    r.driver.driverOk();
    expect(r.device.needsResetReason?.kind).toBe('ring-misaligned');
  });

  it('stops serving after a guest error, and reset brings everything back', () => {
    const r = rig();
    const q = live(r);
    echo(r, q, 1);
    expect(q.getUsed()?.token).toBe(1);
    // A chain whose buffer lies outside RAM.
    q.add([{ gpa: 0x200000, length: 4 }], [], 2);
    r.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(r.device.needsResetReason?.kind).toBe('buffer-out-of-range');
    expect(r.mmio.read(MmioReg.STATUS, 4) & Status.DEVICE_NEEDS_RESET).toBe(Status.DEVICE_NEEDS_RESET);
    const served = r.device.served;
    r.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(r.device.served).toBe(served);
    expect(r.device.counters.ignoredNotifies).toBe(1);

    r.driver.reset();
    expect(r.device.status).toBe(0);
    expect(r.device.needsResetReason).toBeUndefined();
    expect(r.device.queues[0]!.ready).toBe(false);
    expect(r.device.interruptStatus).toBe(0);
    expect(r.device.driverFeatures).toBe(0n);
    const again = live(r);
    echo(r, again, 3);
    expect(again.getUsed()?.token).toBe(3);
  });

  it('serves kicks that came before DRIVER_OK once the driver is live', () => {
    const r = rig();
    r.driver.negotiate(0n);
    const q = r.driver.setupQueue<number>(0, RING);
    echo(r, q, 7);
    expect(q.getUsed()).toBeUndefined();
    r.driver.driverOk();
    expect(q.getUsed()?.token).toBe(7);
  });
});

describe('interrupts', () => {
  it('raise the line on a used buffer and lower it when acknowledged', () => {
    const r = rig();
    const q = live(r);
    echo(r, q, 1);
    expect(r.interrupts).toContainEqual({ kind: 'used', queue: 0 });
    expect(r.mmio.read(MmioReg.INTERRUPT_STATUS, 4)).toBe(1);
    expect(r.levels.at(-1)).toBe(true);
    r.mmio.write(MmioReg.INTERRUPT_ACK, 4, 1);
    expect(r.mmio.read(MmioReg.INTERRUPT_STATUS, 4)).toBe(0);
    expect(r.levels.at(-1)).toBe(false);
  });

  it('bump the config generation on a config change', () => {
    const r = rig();
    live(r);
    const before = r.mmio.read(MmioReg.CONFIG_GENERATION, 4);
    r.mmio.write(MmioReg.STATUS, 4, 1); // clearing bits: a guest error, which changes config
    expect(r.mmio.read(MmioReg.CONFIG_GENERATION, 4)).toBe(before + 1);
  });
});

describe('save and restore', () => {
  it('carry a live device to a fresh one on the same memory, which keeps serving', () => {
    const r = rig();
    const q = live(r);
    echo(r, q, 1);
    q.getUsed();
    const state = r.device.saveCore();
    const twin = new EchoDevice(r.memory, 8, featureBit(Feature.EVENT_IDX));
    twin.restoreCore(state);
    expect(twin.status).toBe(r.device.status);
    expect(twin.negotiatedFeatures).toBe(r.device.negotiatedFeatures);
    const driver = new MmioTransport(twin);
    r.memory.writeU32(0x8000, 9);
    q.add([{ gpa: 0x8000, length: 4 }], [{ gpa: 0x9000, length: 4 }], 9);
    driver.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(q.getUsed()?.token).toBe(9);
    expect(r.memory.readU32(0x9000)).toBe(9);
  });
});

describe('the mmio register file (§4.2.2)', () => {
  it('identifies itself', () => {
    const r = rig();
    expect(r.mmio.read(MmioReg.MAGIC_VALUE, 4)).toBe(MMIO_MAGIC);
    expect(r.mmio.read(MmioReg.VERSION, 4)).toBe(2);
    expect(r.mmio.read(MmioReg.DEVICE_ID, 4)).toBe(r.device.deviceId);
    expect(r.driver.probe()?.deviceId).toBe(r.device.deviceId);
  });

  it('ignores and counts accesses of the wrong width, and reads of write-only registers', () => {
    const r = rig();
    expect(r.mmio.read(MmioReg.MAGIC_VALUE, 2)).toBe(0);
    r.mmio.write(MmioReg.STATUS, 1, 1);
    expect(r.device.status).toBe(0);
    expect(r.mmio.counters.badWidth).toBe(2);
    expect(r.mmio.read(MmioReg.QUEUE_NOTIFY, 4)).toBe(0);
    r.mmio.write(MmioReg.MAGIC_VALUE, 4, 0);
    expect([r.mmio.counters.badRead, r.mmio.counters.badWrite]).toEqual([1, 1]);
  });

  it("reports a missing queue as size 0, and freezes a ready queue's registers", () => {
    const r = rig();
    r.mmio.write(MmioReg.QUEUE_SEL, 4, 5);
    expect(r.mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(0);
    live(r);
    r.mmio.write(MmioReg.QUEUE_SEL, 4, 0);
    r.mmio.write(MmioReg.QUEUE_NUM, 4, 4);
    r.mmio.write(MmioReg.QUEUE_DESC_LOW, 4, 0x5000);
    expect(r.device.queues[0]!.size).toBe(8);
    expect(r.device.queues[0]!.descTable).toBe(RING.descTable);
    expect(r.mmio.counters.queueBusy).toBe(2);
  });

  it('assembles 64-bit queue addresses, and a high half past 2^53 fails the RAM check', () => {
    const r = rig();
    r.driver.negotiate(0n);
    r.mmio.write(MmioReg.QUEUE_SEL, 4, 0);
    r.mmio.write(MmioReg.QUEUE_DESC_LOW, 4, 0x1000);
    r.mmio.write(MmioReg.QUEUE_DESC_HIGH, 4, 2);
    expect(r.device.queues[0]!.descTable).toBe(2 * 2 ** 32 + 0x1000);
    r.mmio.write(MmioReg.QUEUE_DESC_HIGH, 4, 0xffffffff);
    r.mmio.write(MmioReg.QUEUE_DRIVER_LOW, 4, RING.availRing);
    r.mmio.write(MmioReg.QUEUE_DEVICE_LOW, 4, RING.usedRing);
    r.mmio.write(MmioReg.QUEUE_READY, 4, 1);
    r.driver.driverOk();
    expect(r.device.needsResetReason?.kind).toBe('ring-out-of-range');
  });

  it('maps config space at 0x100 with 1, 2 and 4-byte accesses', () => {
    const r = rig();
    live(r);
    r.mmio.write(MmioReg.CONFIG + 4, 4, 0x11223344);
    expect(r.mmio.read(MmioReg.CONFIG + 4, 4)).toBe(0x11223344);
    expect(r.mmio.read(MmioReg.CONFIG + 4, 2)).toBe(0x3344);
    expect(r.mmio.read(MmioReg.CONFIG + 7, 1)).toBe(0x11);
    expect(r.mmio.read(MmioReg.CONFIG + 6, 4)).toBe(0); // past the 8-byte config
    expect(r.mmio.read(MmioReg.CONFIG, 8)).toBe(0);
  });
});
