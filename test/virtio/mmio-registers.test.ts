import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { Feature, Status, featureBit } from '../../src/virtio/constants.js';
import { FREEHINT_VENDOR_ID, MMIO_MAGIC, MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';
import { ScratchDevice } from '../support/scratch-device.js';

/** Three queues of different max sizes, so a register of the wrong queue shows. */
const SIZES = [256, 64, 16] as const;
const OFFERED = featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX);
const CLEAN = { badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 };

function rig(vendorId?: number) {
  const device = new ScratchDevice(new FlatMemory(1 << 20), SIZES, { features: OFFERED, deviceId: 5 });
  const mmio = vendorId === undefined ? new MmioTransport(device) : new MmioTransport(device, vendorId);
  return { device, mmio };
}

/** The queue fields a driver programs through the six address registers. */
function addresses(device: ScratchDevice, q: number): number[] {
  const queue = device.queues[q]!;
  return [queue.descTable, queue.availRing, queue.usedRing];
}

describe('virtio-mmio identification registers (virtio 1.2 §4.2.2)', () => {
  it('reads magic, version 2, device id and vendor id', () => {
    const { mmio } = rig();
    expect(mmio.read(MmioReg.MAGIC_VALUE, 4)).toBe(0x74726976);
    expect(mmio.read(MmioReg.MAGIC_VALUE, 4)).toBe(MMIO_MAGIC);
    expect(mmio.read(MmioReg.VERSION, 4)).toBe(2);
    expect(mmio.read(MmioReg.DEVICE_ID, 4)).toBe(5);
    // "FHNT" as little-endian bytes.
    expect(mmio.read(MmioReg.VENDOR_ID, 4)).toBe(0x544e4846);
    expect(mmio.read(MmioReg.VENDOR_ID, 4)).toBe(FREEHINT_VENDOR_ID);
    expect(mmio.counters).toEqual(CLEAN);
  });

  it('reads a vendor id chosen by the VMM as an unsigned 32-bit value', () => {
    expect(rig(0x1af4).mmio.read(MmioReg.VENDOR_ID, 4)).toBe(0x1af4);
    expect(rig(-1).mmio.read(MmioReg.VENDOR_ID, 4)).toBe(0xffffffff);
  });

  it('reads every shared-memory length and base register as all ones: no region exists', () => {
    const { mmio } = rig();
    for (const sel of [0, 1, 0xff]) {
      mmio.write(MmioReg.SHM_SEL, 4, sel);
      for (const reg of [MmioReg.SHM_LEN_LOW, MmioReg.SHM_LEN_HIGH, MmioReg.SHM_BASE_LOW, MmioReg.SHM_BASE_HIGH]) {
        expect(mmio.read(reg, 4)).toBe(0xffffffff);
      }
    }
    // SHMSel is a plain write-only register, not a mistake.
    expect(mmio.counters).toEqual(CLEAN);
  });
});

describe('virtio-mmio queue registers (virtio 1.2 §4.2.2, §4.2.3.2)', () => {
  it('shows each selected queue: QueueNumMax, and QueueReady as written', () => {
    const { mmio, device } = rig();
    SIZES.forEach((max, q) => {
      mmio.write(MmioReg.QUEUE_SEL, 4, q);
      expect(mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(max);
      expect(mmio.read(MmioReg.QUEUE_READY, 4)).toBe(0);
    });
    mmio.write(MmioReg.QUEUE_SEL, 4, 1);
    mmio.write(MmioReg.QUEUE_READY, 4, 1);
    expect(device.interruptStatus).toBe(0);
    expect(mmio.read(MmioReg.QUEUE_READY, 4)).toBe(1);
    expect(device.queues.map((q) => q.ready)).toEqual([false, true, false]);
    // MMIO, unlike PCI, lets the driver stop a queue by writing 0 and reading it back.
    mmio.write(MmioReg.QUEUE_READY, 4, 0);
    expect(mmio.read(MmioReg.QUEUE_READY, 4)).toBe(0);
    expect(device.queues[1]!.ready).toBe(false);
    expect(mmio.counters).toEqual(CLEAN);
  });

  it('presents a missing queue as QueueNumMax 0 and not ready, and refuses to set it up', () => {
    const { mmio } = rig();
    mmio.write(MmioReg.QUEUE_SEL, 4, SIZES.length);
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(0);
    expect(mmio.read(MmioReg.QUEUE_READY, 4)).toBe(0);
    mmio.write(MmioReg.QUEUE_READY, 4, 1);
    expect(mmio.read(MmioReg.QUEUE_READY, 4)).toBe(0);
    expect(mmio.counters).toEqual({ ...CLEAN, queueBusy: 1 });
    mmio.write(MmioReg.QUEUE_NUM, 4, 8);
    mmio.write(MmioReg.QUEUE_DRIVER_HIGH, 4, 1);
    expect(mmio.counters).toEqual({ ...CLEAN, queueBusy: 3 });
  });

  it('writes QueueNum and each half of the three queue addresses to the selected queue', () => {
    const { mmio, device } = rig();
    mmio.write(MmioReg.QUEUE_SEL, 4, 2);
    mmio.write(MmioReg.QUEUE_NUM, 4, 8);
    mmio.write(MmioReg.QUEUE_DESC_LOW, 4, 0x12345000);
    mmio.write(MmioReg.QUEUE_DESC_HIGH, 4, 0x1);
    mmio.write(MmioReg.QUEUE_DRIVER_LOW, 4, 0x23456000);
    mmio.write(MmioReg.QUEUE_DRIVER_HIGH, 4, 0x2);
    mmio.write(MmioReg.QUEUE_DEVICE_LOW, 4, 0x34567000);
    mmio.write(MmioReg.QUEUE_DEVICE_HIGH, 4, 0x3);
    expect(device.queues[2]!.size).toBe(8);
    expect(addresses(device, 2)).toEqual([0x1_12345000, 0x2_23456000, 0x3_34567000]);
    expect(addresses(device, 0)).toEqual([0, 0, 0]);
    expect(addresses(device, 1)).toEqual([0, 0, 0]);
    // Halves are independent: a new high half keeps the low one.
    mmio.write(MmioReg.QUEUE_DRIVER_HIGH, 4, 0x5);
    mmio.write(MmioReg.QUEUE_DEVICE_HIGH, 4, 0);
    expect(addresses(device, 2)).toEqual([0x1_12345000, 0x5_23456000, 0x34567000]);
    expect(mmio.counters).toEqual(CLEAN);
  });

  it('freezes QueueNum and every address register while the queue is ready (§4.2.2.2)', () => {
    const { mmio, device } = rig();
    mmio.write(MmioReg.QUEUE_SEL, 4, 0);
    mmio.write(MmioReg.QUEUE_READY, 4, 1);
    const registers = [MmioReg.QUEUE_NUM, MmioReg.QUEUE_DESC_LOW, MmioReg.QUEUE_DESC_HIGH, MmioReg.QUEUE_DRIVER_LOW, MmioReg.QUEUE_DRIVER_HIGH, MmioReg.QUEUE_DEVICE_LOW, MmioReg.QUEUE_DEVICE_HIGH];
    for (const reg of registers) mmio.write(reg, 4, 0x10);
    expect(device.queues[0]!.size).toBe(SIZES[0]);
    expect(addresses(device, 0)).toEqual([0, 0, 0]);
    expect(mmio.counters).toEqual({ ...CLEAN, queueBusy: registers.length });
  });
});

describe('virtio-mmio selectors and reset', () => {
  it('keeps the selectors across non-zero Status writes and clears them on a reset', () => {
    const { mmio, device } = rig();
    mmio.write(MmioReg.DEVICE_FEATURES_SEL, 4, 1);
    mmio.write(MmioReg.DRIVER_FEATURES_SEL, 4, 1);
    mmio.write(MmioReg.QUEUE_SEL, 4, 2);
    mmio.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE);
    expect(mmio.read(MmioReg.STATUS, 4)).toBe(Status.ACKNOWLEDGE);
    expect(mmio.read(MmioReg.DEVICE_FEATURES, 4)).toBe(1); // window 1: VERSION_1
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(SIZES[2]);
    mmio.write(MmioReg.DRIVER_FEATURES, 4, 1);
    expect(device.driverFeatures).toBe(featureBit(Feature.VERSION_1));

    mmio.write(MmioReg.STATUS, 4, 0);
    expect(device.status).toBe(0);
    expect(device.driverFeatures).toBe(0n);
    // Every selector is back to 0 with the rest of the device.
    expect(mmio.read(MmioReg.DEVICE_FEATURES, 4)).toBe(Number(OFFERED & 0xffffffffn));
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(SIZES[0]);
    mmio.write(MmioReg.DRIVER_FEATURES, 4, 1 << 29);
    expect(device.driverFeatures).toBe(featureBit(Feature.EVENT_IDX));
    expect(mmio.counters).toEqual(CLEAN);
  });

  it('treats a Status write whose status byte is 0 as the reset the device performs', () => {
    const { mmio, device } = rig();
    mmio.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE);
    mmio.write(MmioReg.QUEUE_SEL, 4, 2);
    mmio.write(MmioReg.STATUS, 4, 0x100); // bits above the status byte are not status
    expect(device.status).toBe(0);
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(SIZES[0]);
  });
});

describe('virtio-mmio accesses a driver must not make (§4.2.2.2)', () => {
  it('counts control register accesses that are not 32-bit and aligned as badWidth, reading 0', () => {
    const { mmio, device } = rig();
    const bad: Array<[number, number]> = [
      [MmioReg.MAGIC_VALUE, 1],
      [MmioReg.VERSION, 2],
      [MmioReg.STATUS, 8],
      [MmioReg.STATUS + 2, 4],
      [MmioReg.MAGIC_VALUE + 1, 4],
      [MmioReg.CONFIG_GENERATION, 0],
    ];
    for (const [offset, size] of bad) expect(mmio.read(offset, size)).toBe(0);
    expect(mmio.counters).toEqual({ ...CLEAN, badWidth: bad.length });
    for (const [offset, size] of bad) mmio.write(offset, size, Status.ACKNOWLEDGE);
    mmio.write(MmioReg.QUEUE_SEL + 2, 4, 1);
    expect(mmio.counters).toEqual({ ...CLEAN, badWidth: 2 * bad.length + 1 });
    expect(device.status).toBe(0);
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(SIZES[0]);
  });

  it('forwards config accesses of width 1, 2 and 4, and counts any other width as badWidth', () => {
    const { mmio, device } = rig();
    mmio.write(MmioReg.CONFIG, 4, 0x11223344);
    mmio.write(MmioReg.CONFIG + 4, 2, 0x5566);
    mmio.write(MmioReg.CONFIG + 6, 1, 0x77);
    expect([...device.config.subarray(0, 7)]).toEqual([0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 0x77]);
    expect(mmio.read(MmioReg.CONFIG, 4)).toBe(0x11223344);
    expect(mmio.read(MmioReg.CONFIG + 4, 2)).toBe(0x5566);
    expect(mmio.read(MmioReg.CONFIG + 6, 1)).toBe(0x77);
    expect(mmio.counters).toEqual(CLEAN);
    for (const size of [0, 3, 8]) {
      expect(mmio.read(MmioReg.CONFIG, size)).toBe(0);
      mmio.write(MmioReg.CONFIG, size, 0xffffffff);
    }
    expect(mmio.counters).toEqual({ ...CLEAN, badWidth: 6 });
    // Dropped by the transport: the device never saw them.
    expect(device.counters.ignoredConfigWrites).toBe(0);
    expect(mmio.read(MmioReg.CONFIG, 4)).toBe(0x11223344);
  });

  it('counts reads of write-only or missing registers as badRead and writes of read-only ones as badWrite', () => {
    const { mmio, device } = rig();
    const writeOnly = [MmioReg.DEVICE_FEATURES_SEL, MmioReg.DRIVER_FEATURES, MmioReg.QUEUE_SEL, MmioReg.QUEUE_NUM, MmioReg.QUEUE_NOTIFY, MmioReg.INTERRUPT_ACK, MmioReg.QUEUE_DESC_LOW, MmioReg.SHM_SEL, 0x0c0];
    for (const reg of writeOnly) expect(mmio.read(reg, 4)).toBe(0);
    expect(mmio.counters).toEqual({ ...CLEAN, badRead: writeOnly.length });
    const readOnly = [
      MmioReg.MAGIC_VALUE,
      MmioReg.VERSION,
      MmioReg.DEVICE_ID,
      MmioReg.VENDOR_ID,
      MmioReg.DEVICE_FEATURES,
      MmioReg.QUEUE_NUM_MAX,
      MmioReg.INTERRUPT_STATUS,
      MmioReg.SHM_LEN_LOW,
      MmioReg.CONFIG_GENERATION,
      0x0c0,
    ];
    for (const reg of readOnly) mmio.write(reg, 4, 0);
    expect(mmio.counters).toEqual({ ...CLEAN, badRead: writeOnly.length, badWrite: readOnly.length });
    expect(mmio.read(MmioReg.MAGIC_VALUE, 4)).toBe(MMIO_MAGIC);
    expect(device.status).toBe(0);
  });
});
