import { describe, expect, it } from 'vitest';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { layoutPackedRing, type PackedDriverQueue } from '../../src/guest/packed-driver-queue.js';
import { PciDriver } from '../../src/guest/pci-driver.js';
import type { TransportDriver } from '../../src/guest/transport-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { Feature, Interrupt, featureBit } from '../../src/virtio/constants.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';
import { CommonCfg, PciTransport } from '../../src/virtio/transport/pci.js';

// A packed ring behind each transport: the driver negotiates VIRTIO_F_RING_PACKED, programs a
// ring of a size that is no power of two through the transport's registers, and a buffer makes
// the round trip; the registers read back what was programmed.

const RING = 0x1000;
const DATA = 0x8000;
const PACKED = featureBit(Feature.RING_PACKED);

function mmio() {
  const memory = new FlatMemory(1 << 20);
  const device = new EchoDevice(memory, 16, PACKED | featureBit(Feature.EVENT_IDX));
  const transport = new MmioTransport(device);
  return { memory, device, transport, driver: new MmioDriver(transport, memory) };
}

/** The echo device under a modern virtio-pci device id (0x1040 + 4), which a driver probes. */
class PciEcho extends EchoDevice {
  override readonly deviceId = 4;
}

function pci() {
  const memory = new FlatMemory(1 << 20);
  const device = new PciEcho(memory, 16, PACKED | featureBit(Feature.EVENT_IDX));
  const transport = new PciTransport(device);
  const driver = new PciDriver(
    { readConfig: (o, s) => transport.readConfig(o, s), writeConfig: (o, s, v) => transport.writeConfig(o, s, v), readBar: (o, s) => transport.readBar(o, s), writeBar: (o, s, v) => transport.writeBar(o, s, v) },
    memory,
  );
  expect(driver.probe()).toBeDefined();
  return { memory, device, transport, driver };
}

/** Negotiate a packed ring of `size`, echo `bytes` through it, and return what came back. */
function roundTrip(driver: TransportDriver, memory: FlatMemory, size: number, bytes: number[]): { len: number; echoed: number[]; queue: PackedDriverQueue<string> } {
  expect(driver.negotiate(PACKED | featureBit(Feature.EVENT_IDX))).toBe(featureBit(Feature.VERSION_1) | PACKED | featureBit(Feature.EVENT_IDX));
  const queue = driver.setupPackedQueue<string>(0, layoutPackedRing(RING, size), { eventIdx: true });
  driver.driverOk();
  memory.write(DATA, Uint8Array.from(bytes));
  queue.add([{ gpa: DATA, length: bytes.length }], [{ gpa: DATA + 0x100, length: 16 }], 'echo');
  expect(driver.kick(0, queue)).toBe(true);
  expect(driver.takeInterrupts()).toBe(Interrupt.USED_BUFFER);
  const used = queue.getUsed();
  expect(used?.token).toBe('echo');
  return { len: used!.len, echoed: [...memory.read(DATA + 0x100, used!.len)], queue };
}

describe('a packed ring behind virtio-mmio', () => {
  it('takes a QueueNum that is no power of two and the three areas, and makes the round trip', () => {
    const { memory, device, transport, driver } = mmio();
    expect(roundTrip(driver, memory, 5, [1, 2, 3])).toMatchObject({ len: 3, echoed: [1, 2, 3] });
    expect(device.queues[0]!.save()).toMatchObject({ layout: 'packed', size: 5, descRing: RING, driverEvent: RING + 80, deviceEvent: RING + 84, nextAvail: 2, nextUsed: 2 });
    expect(transport.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(16);
    expect(device.needsResetReason).toBeUndefined();
  });

  it('starts the ring afresh when the driver takes the queue down, so a fresh ring works at once', () => {
    const { memory, device, transport, driver } = mmio();
    roundTrip(driver, memory, 3, [9]);
    transport.write(MmioReg.QUEUE_SEL, 4, 0);
    transport.write(MmioReg.QUEUE_READY, 4, 0);
    expect(device.queues[0]!.save()).toMatchObject({ ready: false, nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1, inFlight: [] });
    // The same driver sets a new, zeroed ring up in place of the old one.
    const queue = driver.setupPackedQueue<string>(0, layoutPackedRing(RING, 3), { eventIdx: true });
    memory.write(DATA, Uint8Array.from([7, 7]));
    queue.add([{ gpa: DATA, length: 2 }], [{ gpa: DATA + 0x100, length: 2 }], 'again');
    driver.kick(0, queue);
    expect(queue.getUsed()).toEqual({ token: 'again', len: 2 });
    expect(device.needsResetReason).toBeUndefined();
  });
});

describe('a packed ring behind virtio-pci', () => {
  it('takes a queue_size that is no power of two and the three areas, reads them back, and makes the round trip', () => {
    const { memory, device, transport, driver } = pci();
    expect(roundTrip(driver, memory, 7, [4, 5, 6, 7])).toMatchObject({ len: 4, echoed: [4, 5, 6, 7] });
    expect(device.queues[0]!.layout).toBe('packed');
    transport.writeBar(CommonCfg.QUEUE_SELECT, 2, 0);
    expect(transport.readBar(CommonCfg.QUEUE_SIZE, 2)).toBe(7);
    expect([transport.readBar(CommonCfg.QUEUE_DESC, 4), transport.readBar(CommonCfg.QUEUE_DRIVER, 4), transport.readBar(CommonCfg.QUEUE_DEVICE, 4)]).toEqual([RING, RING + 112, RING + 116]);
    expect(device.needsResetReason).toBeUndefined();
  });

  it('keeps the split layout for a driver that does not take RING_PACKED', () => {
    const { device, driver } = pci();
    expect(driver.negotiate(0n)).toBe(featureBit(Feature.VERSION_1));
    expect(device.queues[0]!.layout).toBe('split');
  });
});
