import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { Feature, Status, featureBit } from '../../src/virtio/constants.js';
import { CommonCfg, PCI_BAR_SIZE, PciCapType, PciLayout, PciTransport } from '../../src/virtio/transport/pci.js';
import { runs } from '../support/runs.js';
import { ScratchDevice } from '../support/scratch-device.js';

/** Three queues of different max sizes, so a read of the wrong queue's field shows. */
const SIZES = [256, 64, 16] as const;
const OFFERED = featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX);
const ALL_ONES = 0xffffffff;
const NO_VECTOR = 0xffff;

function rig(sizes: readonly number[] = SIZES) {
  const device = new ScratchDevice(new FlatMemory(1 << 20), sizes, { features: OFFERED });
  const t = new PciTransport(device);
  return { device, t };
}

/** Offset of a common-configuration field within BAR 0. */
const at = (field: keyof typeof CommonCfg): number => PciLayout.COMMON + CommonCfg[field];

/** A driver's bring-up to DRIVER_OK with VERSION_1 only and no queue enabled. */
function goLive(t: PciTransport): void {
  t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE | Status.DRIVER);
  t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 1);
  t.writeBar(at('DRIVER_FEATURE'), 4, 1); // bit 32
  t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
}

interface Cap {
  readonly at: number;
  readonly next: number;
  readonly capLen: number;
  readonly type: number;
  readonly bar: number;
  readonly offset: number;
  readonly length: number;
}

/** The capability list as a driver walks it from the capabilities pointer. */
function capabilities(t: PciTransport): Cap[] {
  const caps: Cap[] = [];
  for (let p = t.readConfig(0x34, 1); p !== 0 && caps.length < 48; p = t.readConfig(p + 1, 1)) {
    expect(t.readConfig(p, 1)).toBe(0x09); // PCI_CAP_ID_VNDR
    caps.push({
      at: p,
      next: t.readConfig(p + 1, 1),
      capLen: t.readConfig(p + 2, 1),
      type: t.readConfig(p + 3, 1),
      bar: t.readConfig(p + 4, 1),
      offset: t.readConfig(p + 8, 4),
      length: t.readConfig(p + 12, 4),
    });
  }
  return caps;
}

function capOf(t: PciTransport, type: number): Cap {
  const cap = capabilities(t).find((c) => c.type === type);
  expect(cap).toBeDefined();
  return cap!;
}

describe('PCI configuration space header (PCI 3.0 §6.2, virtio 1.2 §4.1.2)', () => {
  it('comes out of reset with the virtio ids, decoding off and only BAR 0 implemented', () => {
    const { t } = rig();
    expect(t.readConfig(0x00, 4)).toBe(((0x1040 + 5) << 16) | 0x1af4);
    // Registers are little-endian: the vendor id's low byte comes first.
    expect([t.readConfig(0x00, 1), t.readConfig(0x01, 1)]).toEqual([0xf4, 0x1a]);
    expect(t.readConfig(0x04, 2)).toBe(0); // command: nothing decoded until firmware enables it
    expect(t.ioEnabled).toBe(false);
    expect(t.readConfig(0x06, 2)).toBe(1 << 4); // status: capability list, no interrupt pending
    expect(t.readConfig(0x08, 1)).toBe(1); // revision ≥ 1 for a non-transitional device
    expect(t.readConfig(0x0e, 1)).toBe(0); // header type 0, single function
    expect(t.readConfig(0x10, 4)).toBe(1); // BAR 0: I/O space, not yet placed
    expect(t.barAddress).toBe(0);
    for (const bar of [0x14, 0x18, 0x1c, 0x20, 0x24, 0x30]) expect(t.readConfig(bar, 4)).toBe(0);
    expect(t.readConfig(0x2c, 2)).toBe(0x1af4); // subsystem vendor
    // Subsystem id: §4.1.2.1 asks a non-transitional device for 0x40 or more; this one uses 0x40.
    expect([t.readConfig(0x2e, 1), t.readConfig(0x2f, 1)]).toEqual([0x40, 0x00]);
    expect(t.readConfig(0x34, 1)).toBe(0x40);
    expect(t.readConfig(0x3c, 1)).toBe(0); // interrupt line: for the OS to fill in
    expect(t.readConfig(0x3d, 1)).toBe(1); // INTA#
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('sizes BAR 0 as a 256-byte I/O BAR and decodes all 32 address bits', () => {
    const { t } = rig();
    t.writeConfig(0x10, 4, ALL_ONES);
    // Bits 7..2 hardwired 0 (256 bytes), bit 0 says I/O, bit 1 reserved.
    expect(t.readConfig(0x10, 4)).toBe((~(PCI_BAR_SIZE - 1) | 1) >>> 0);
    expect(t.readConfig(0x10, 4)).toBe(0xffffff01);
    t.writeConfig(0x10, 4, 0x12345678);
    expect(t.readConfig(0x10, 4)).toBe(0x12345601);
    expect(t.barAddress).toBe(0x12345600);
    // Byte writes land in their own byte only.
    t.writeConfig(0x12, 1, 0xab);
    expect(t.readConfig(0x10, 4)).toBe(0x12ab5601);
    t.writeConfig(0x10, 2, 0xc0ff);
    expect(t.readConfig(0x10, 4)).toBe(0x12abc001);
    t.writeConfig(0x10, 1, 0xfe); // the low byte is fixed
    expect(t.readConfig(0x10, 4)).toBe(0x12abc001);
    expect(t.counters.badWrite).toBe(0);
  });

  it('keeps unimplemented BARs and the expansion ROM at zero through a sizing write', () => {
    const { t } = rig();
    for (const bar of [0x14, 0x18, 0x1c, 0x20, 0x24, 0x30]) {
      t.writeConfig(bar, 4, ALL_ONES);
      expect(t.readConfig(bar, 4)).toBe(0); // size 0: not implemented
    }
    expect(t.readConfig(0x10, 4)).toBe(1);
    expect(t.counters.badWrite).toBe(6 * 4);
  });

  it('implements only the I/O, bus-master and INTx-disable command bits', () => {
    const { t } = rig();
    t.writeConfig(0x04, 2, 1);
    expect(t.ioEnabled).toBe(true);
    // Memory space (bit 1) is hardwired 0 without a memory BAR; parity (6) and SERR# (8) unsupported.
    t.writeConfig(0x04, 2, 0x0547);
    expect(t.readConfig(0x04, 2)).toBe(0x0405);
    t.writeConfig(0x05, 1, 0); // high byte alone: INTx enabled again, I/O untouched
    expect(t.readConfig(0x04, 2)).toBe(0x0005);
    t.writeConfig(0x04, 1, 0x04);
    expect(t.ioEnabled).toBe(false);
    expect(t.readConfig(0x04, 2)).toBe(0x0004);
    expect(t.counters.badWrite).toBe(0);
  });

  it('lets the OS write the interrupt line and nothing else of that dword', () => {
    const { t } = rig();
    t.writeConfig(0x3c, 1, 0x0b);
    expect(t.readConfig(0x3c, 1)).toBe(0x0b);
    expect(t.counters.badWrite).toBe(0);
    t.writeConfig(0x3c, 4, 0xffffff0a);
    // Line updated; pin, min_gnt and max_lat are read-only.
    expect(t.readConfig(0x3c, 4)).toBe(0x0000010a);
    expect(t.counters.badWrite).toBe(3);
  });

  it('ignores and counts writes to read-only bytes, one count per byte', () => {
    const writable = new Set([0x04, 0x05, 0x10, 0x11, 0x12, 0x13, 0x3c]);
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4), fc.nat(255), fc.nat(), (size, raw, value) => {
        const offset = raw - (raw % size);
        fc.pre(![...Array(size).keys()].some((i) => writable.has(offset + i)));
        const { t } = rig();
        const before = Uint8Array.from(t.config);
        t.writeConfig(offset, size, value);
        expect(Uint8Array.from(t.config)).toEqual(before);
        expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: size, queueBusy: 0 });
      }),
      { numRuns: runs(100) },
    );
  });

  it('answers misaligned, odd-width and out-of-range config reads with all ones, as a master abort does', () => {
    const { t } = rig();
    const bad: Array<[offset: number, size: number]> = [
      [0x01, 2],
      [0x02, 4],
      [0x00, 3],
      [0x00, 8],
      [0x00, 0],
      [-4, 4],
      [-1, 1],
      [0.5, 1],
      [Number.NaN, 1],
      [0x100, 1],
      [0x100, 4],
    ];
    bad.forEach(([offset, size], i) => {
      expect(t.readConfig(offset, size)).toBe(ALL_ONES);
      expect(t.counters.badWidth).toBe(i + 1);
    });
    // The last byte and the last dword are in range (and read 0: nothing lives there).
    expect(t.readConfig(0xff, 1)).toBe(0);
    expect(t.readConfig(0xfe, 2)).toBe(0);
    expect(t.readConfig(0xfc, 4)).toBe(0);
    expect(t.counters).toEqual({ badWidth: bad.length, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('drops misaligned, odd-width and out-of-range config writes whole', () => {
    const { t } = rig();
    const before = Uint8Array.from(t.config);
    t.writeConfig(0x3b, 2, 0xffff); // would reach the interrupt line
    t.writeConfig(0x11, 2, 0xffff); // would reach BAR 0
    t.writeConfig(0x10, 3, ALL_ONES);
    t.writeConfig(0x04, 8, 1);
    t.writeConfig(-4, 4, ALL_ONES);
    t.writeConfig(0x100, 4, ALL_ONES);
    t.writeConfig(0xfe, 4, ALL_ONES);
    expect(Uint8Array.from(t.config)).toEqual(before);
    expect(t.ioEnabled).toBe(false);
    expect(t.counters).toEqual({ badWidth: 7, badRead: 0, badWrite: 0, queueBusy: 0 });
    // The last dword is in range: a plain write to read-only bytes.
    t.writeConfig(0xfc, 4, ALL_ONES);
    expect(t.counters).toEqual({ badWidth: 7, badRead: 0, badWrite: 4, queueBusy: 0 });
  });

  it('sets the status register interrupt bit from the device line, even with INTx disabled', () => {
    const { t, device } = rig();
    goLive(t);
    t.writeConfig(0x04, 2, 1 << 10);
    device.bump(); // a config change interrupt
    // PCI 3.0 §6.2.3: Interrupt Status reflects the function's interrupt regardless of Interrupt Disable.
    expect(t.readConfig(0x06, 2)).toBe((1 << 4) | (1 << 3));
    expect(t.interruptLine).toBe(false);
    t.writeConfig(0x04, 2, 0);
    expect(t.interruptLine).toBe(true);
    expect(t.readBar(PciLayout.ISR, 1)).toBe(2);
    expect(t.readConfig(0x06, 2)).toBe(1 << 4);
    expect(t.interruptLine).toBe(false);
  });
});

describe('virtio vendor capabilities (virtio 1.2 §4.1.4)', () => {
  it('chains common, ISR, device and notify capabilities with their exact lengths', () => {
    const { t } = rig();
    const caps = capabilities(t);
    expect(caps.map((c) => c.type)).toEqual([PciCapType.COMMON, PciCapType.ISR, PciCapType.DEVICE, PciCapType.NOTIFY]);
    // struct virtio_pci_cap is 16 bytes; virtio_pci_notify_cap adds notify_off_multiplier (20).
    expect(caps.map((c) => c.capLen)).toEqual([16, 16, 16, 20]);
    expect(caps.map((c) => c.bar)).toEqual([0, 0, 0, 0]);
    expect(caps.map((c) => [c.offset, c.length])).toEqual([
      [0x00, 0x38], // the whole virtio_pci_common_cfg of §4.1.4.3 (56 bytes)
      [0x38, 1], // the ISR byte
      [0x40, 0x40],
      [0x80, 2 * SIZES.length],
    ]);
    // Each capability sits in the device-specific part of config space, dword aligned, apart from the others.
    caps.forEach((c, i) => {
      expect(c.at % 4).toBe(0);
      expect(c.at).toBeGreaterThanOrEqual(0x40);
      expect(c.at + c.capLen).toBeLessThanOrEqual(0x100);
      const next = caps[i + 1];
      expect(c.next).toBe(next?.at ?? 0);
      if (next !== undefined) expect(next.at).toBeGreaterThanOrEqual(c.at + c.capLen);
      expect(t.readConfig(c.at + 5, 1)).toBe(0); // id
    });
  });

  it('places every queue notify address inside the notify capability (§4.1.4.4)', () => {
    const layouts: ReadonlyArray<readonly number[]> = [[], [128], SIZES, [8, 8, 8, 8, 8]];
    for (const sizes of layouts) {
      const { t, device } = rig(sizes);
      const cap = capOf(t, PciCapType.NOTIFY);
      const multiplier = t.readConfig(cap.at + 16, 4);
      // An even power of two (or 0); 2 lets every queue have its own 16-bit register.
      expect(multiplier).toBe(PciLayout.NOTIFY_MULTIPLIER);
      expect(multiplier).toBe(2);
      // cap.length ≥ queue_notify_off × multiplier + 2 for every queue, and never below 2.
      expect(cap.length).toBe(Math.max(1, sizes.length) * 2);
      const addresses = new Set<number>();
      sizes.forEach((_, q) => {
        t.writeBar(at('QUEUE_SELECT'), 2, q);
        const address = t.readBar(at('QUEUE_NOTIFY_OFF'), 2) * multiplier;
        expect(address + 2).toBeLessThanOrEqual(cap.length);
        addresses.add(address);
        t.writeBar(cap.offset + address, 2, q);
      });
      expect(addresses.size).toBe(sizes.length);
      expect(device.notified).toEqual(sizes.map((_, q) => q));
      expect(t.counters.badWrite).toBe(0);
    }
  });

  it('keeps every structure inside the 256-byte BAR without overlap', () => {
    const { t } = rig();
    const spans = capabilities(t)
      .map((c) => [c.offset, c.offset + c.length] as const)
      .sort((a, b) => a[0] - b[0]);
    spans.forEach(([start, end], i) => {
      expect(end).toBeLessThanOrEqual(PCI_BAR_SIZE);
      if (i > 0) expect(start).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    });
  });
});

describe('common configuration registers (virtio 1.2 §4.1.4.3)', () => {
  it('reads back the feature selectors and the feature windows they choose', () => {
    const { t } = rig();
    for (const select of [0, 1, 2, 3, 7]) {
      t.writeBar(at('DEVICE_FEATURE_SELECT'), 4, select);
      expect(t.readBar(at('DEVICE_FEATURE_SELECT'), 4)).toBe(select);
      const offered = (OFFERED | featureBit(Feature.VERSION_1)) >> BigInt(32 * select);
      expect(t.readBar(at('DEVICE_FEATURE'), 4)).toBe(select > 3 ? 0 : Number(offered & 0xffffffffn));
    }
    t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 1);
    t.writeBar(at('DRIVER_FEATURE'), 4, 1);
    t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 0);
    t.writeBar(at('DRIVER_FEATURE'), 4, 1 << 29);
    t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 2);
    expect(t.readBar(at('DRIVER_FEATURE_SELECT'), 4)).toBe(2);
    expect(t.readBar(at('DRIVER_FEATURE'), 4)).toBe(0);
    t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 1);
    expect(t.readBar(at('DRIVER_FEATURE'), 4)).toBe(1);
    t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 0);
    expect(t.readBar(at('DRIVER_FEATURE'), 4)).toBe(1 << 29);
    expect(t.device.driverFeatures).toBe(featureBit(Feature.VERSION_1) | featureBit(Feature.EVENT_IDX));
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('reads NO_VECTOR from both MSI-X vector fields, whatever the driver writes, without side effects', () => {
    const { t, device } = rig();
    t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE | Status.DRIVER);
    t.writeBar(at('QUEUE_SELECT'), 2, 1);
    expect(t.readBar(at('MSIX_CONFIG'), 2)).toBe(NO_VECTOR);
    expect(t.readBar(at('QUEUE_MSIX_VECTOR'), 2)).toBe(NO_VECTOR);
    // No MSI-X capability: a mapping never sticks (§4.1.5.1.2), and 0 is no device reset.
    t.writeBar(at('MSIX_CONFIG'), 2, 0);
    t.writeBar(at('QUEUE_MSIX_VECTOR'), 2, 0);
    expect(t.readBar(at('MSIX_CONFIG'), 2)).toBe(NO_VECTOR);
    expect(t.readBar(at('QUEUE_MSIX_VECTOR'), 2)).toBe(NO_VECTOR);
    expect(device.status).toBe(Status.ACKNOWLEDGE | Status.DRIVER);
    expect(t.readBar(at('QUEUE_SELECT'), 2)).toBe(1);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('reads num_queues, device_status and config_generation', () => {
    const { t, device } = rig();
    expect(t.readBar(at('NUM_QUEUES'), 2)).toBe(SIZES.length);
    expect(t.readBar(at('DEVICE_STATUS'), 1)).toBe(0);
    expect(t.readBar(at('CONFIG_GENERATION'), 1)).toBe(0);
    t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE);
    expect(t.readBar(at('DEVICE_STATUS'), 1)).toBe(Status.ACKNOWLEDGE);
    device.bump();
    expect(t.readBar(at('CONFIG_GENERATION'), 1)).toBe(1);
    // An 8-bit field: the generation wraps, and it still changes on every config change.
    for (let i = 0; i < 256; i++) device.bump();
    expect(t.readBar(at('CONFIG_GENERATION'), 1)).toBe(257 & 0xff);
    expect(t.readBar(at('NUM_QUEUES'), 2)).toBe(SIZES.length);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('presents each queue with queue_size = its maximum and reads back a smaller size', () => {
    const { t, device } = rig();
    SIZES.forEach((max, q) => {
      t.writeBar(at('QUEUE_SELECT'), 2, q);
      expect(t.readBar(at('QUEUE_SELECT'), 2)).toBe(q);
      expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(max);
      expect(t.readBar(at('QUEUE_ENABLE'), 2)).toBe(0);
    });
    t.writeBar(at('QUEUE_SELECT'), 2, 0);
    t.writeBar(at('QUEUE_SIZE'), 2, 32);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(32);
    expect(device.queues[0]!.size).toBe(32);
    expect(device.queues.map((q) => q.size)).toEqual([32, 64, 16]);
    expect(t.counters.queueBusy).toBe(0);
  });

  it('reports a queue that does not exist as size 0, disabled, with zero addresses', () => {
    const { t } = rig();
    t.writeBar(at('QUEUE_SELECT'), 2, 7);
    expect(t.readBar(at('QUEUE_SELECT'), 2)).toBe(7);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(0);
    expect(t.readBar(at('QUEUE_ENABLE'), 2)).toBe(0);
    for (const field of ['QUEUE_DESC', 'QUEUE_DRIVER', 'QUEUE_DEVICE'] as const) {
      expect(t.readBar(at(field), 4)).toBe(0);
      expect(t.readBar(at(field) + 4, 4)).toBe(0);
    }
    // Setting it up is refused and counted, and nothing throws.
    t.writeBar(at('QUEUE_SIZE'), 2, 8);
    t.writeBar(at('QUEUE_DESC'), 4, 0x1000);
    t.writeBar(at('QUEUE_ENABLE'), 2, 1);
    expect(t.readBar(at('QUEUE_ENABLE'), 2)).toBe(0);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 3 });
  });

  it('takes the three 64-bit queue addresses as 32-bit halves and reads each half back', () => {
    const { t, device } = rig();
    t.writeBar(at('QUEUE_SELECT'), 2, 1);
    const halves = { QUEUE_DESC: [0x12345000, 0x1], QUEUE_DRIVER: [0x23456000, 0x2], QUEUE_DEVICE: [0x34567000, 0x3] } as const;
    for (const [field, [low, high]] of Object.entries(halves)) {
      t.writeBar(at(field as keyof typeof halves), 4, low);
      t.writeBar(at(field as keyof typeof halves) + 4, 4, high);
    }
    for (const [field, [low, high]] of Object.entries(halves)) {
      expect(t.readBar(at(field as keyof typeof halves), 4)).toBe(low);
      expect(t.readBar(at(field as keyof typeof halves) + 4, 4)).toBe(high);
    }
    const q = device.queues[1]!;
    expect([q.descTable, q.availRing, q.usedRing]).toEqual([0x1_12345000, 0x2_23456000, 0x3_34567000]);
    // The other queues are untouched.
    expect([device.queues[0]!.descTable, device.queues[2]!.usedRing]).toEqual([0, 0]);
    // A high half above 2^21 would pass 2^53: saturated, never rounded onto RAM.
    t.writeBar(at('QUEUE_DESC') + 4, 4, 0x80000000);
    expect(q.descTable).toBe(2 ** 53);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('round-trips any address below 2^53 through the halves', () => {
    fc.assert(
      fc.property(fc.constantFrom('QUEUE_DESC', 'QUEUE_DRIVER', 'QUEUE_DEVICE'), fc.nat(SIZES.length - 1), fc.maxSafeNat(), (field, q, address) => {
        const { t } = rig();
        const low = address % 2 ** 32;
        const high = Math.floor(address / 2 ** 32);
        t.writeBar(at('QUEUE_SELECT'), 2, q);
        t.writeBar(at(field) + 4, 4, high);
        t.writeBar(at(field), 4, low);
        expect(t.readBar(at(field), 4)).toBe(low);
        expect(t.readBar(at(field) + 4, 4)).toBe(high);
        expect(t.counters.queueBusy).toBe(0);
      }),
      { numRuns: runs(100) },
    );
  });

  it('writes queue_select as 16 bits', () => {
    const { t } = rig();
    t.writeBar(at('QUEUE_SELECT'), 2, 0x1_0002);
    expect(t.readBar(at('QUEUE_SELECT'), 2)).toBe(2);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(SIZES[2]);
  });
});

describe('queue_enable (virtio 1.2 §4.1.4.3.2)', () => {
  it('enables the selected queue and then freezes its size and addresses', () => {
    const { t, device } = rig();
    t.writeBar(at('QUEUE_SELECT'), 2, 1);
    t.writeBar(at('QUEUE_SIZE'), 2, 32);
    t.writeBar(at('QUEUE_DESC'), 4, 0x4000);
    t.writeBar(at('QUEUE_ENABLE'), 2, 1);
    expect(t.readBar(at('QUEUE_ENABLE'), 2)).toBe(1);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(32); // the driver's choice is kept
    expect(device.queues.map((q) => q.ready)).toEqual([false, true, false]);
    t.writeBar(at('QUEUE_SIZE'), 2, 16);
    t.writeBar(at('QUEUE_DESC'), 4, 0x8000);
    t.writeBar(at('QUEUE_DESC') + 4, 4, 1);
    t.writeBar(at('QUEUE_DRIVER'), 4, 0x8000);
    t.writeBar(at('QUEUE_DEVICE'), 4, 0x8000);
    expect(t.counters.queueBusy).toBe(5);
    const q = device.queues[1]!;
    expect([q.size, q.descTable, q.availRing, q.usedRing]).toEqual([32, 0x4000, 0, 0]);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(32);
    expect(t.readBar(at('QUEUE_DESC'), 4)).toBe(0x4000);
  });

  it('refuses a 0 write, which is no way to disable a queue', () => {
    const { t, device } = rig();
    t.writeBar(at('QUEUE_ENABLE'), 2, 0);
    expect(device.queues[0]!.ready).toBe(false);
    expect(t.counters.queueBusy).toBe(1);
    t.writeBar(at('QUEUE_ENABLE'), 2, 1);
    t.writeBar(at('QUEUE_ENABLE'), 2, 0);
    expect(device.queues[0]!.ready).toBe(true);
    expect(t.readBar(at('QUEUE_ENABLE'), 2)).toBe(1);
    expect(t.counters.queueBusy).toBe(2);
  });

  it('never enables a queue of size 0: a driver that wrote 0 gets the maximum', () => {
    const { t, device } = rig();
    t.writeBar(at('QUEUE_SELECT'), 2, 2);
    t.writeBar(at('QUEUE_SIZE'), 2, 0); // not a power of two, forbidden to the driver
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(SIZES[2]);
    t.writeBar(at('QUEUE_ENABLE'), 2, 1);
    expect(device.queues[2]!.ready).toBe(true);
    expect(device.queues[2]!.size).toBe(SIZES[2]);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(SIZES[2]);
  });

  it('resets the device and every selector on a device_status write of 0, and only then', () => {
    const { t, device } = rig();
    t.writeBar(at('DEVICE_FEATURE_SELECT'), 4, 1);
    t.writeBar(at('DRIVER_FEATURE_SELECT'), 4, 1);
    t.writeBar(at('QUEUE_SELECT'), 2, 2);
    t.writeBar(at('QUEUE_SIZE'), 2, 8);
    t.writeBar(at('QUEUE_ENABLE'), 2, 1);
    t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE);
    expect([t.readBar(at('DEVICE_FEATURE_SELECT'), 4), t.readBar(at('DRIVER_FEATURE_SELECT'), 4), t.readBar(at('QUEUE_SELECT'), 2)]).toEqual([1, 1, 2]);
    t.writeBar(at('DEVICE_STATUS'), 1, 0);
    expect(device.status).toBe(0);
    expect([t.readBar(at('DEVICE_FEATURE_SELECT'), 4), t.readBar(at('DRIVER_FEATURE_SELECT'), 4), t.readBar(at('QUEUE_SELECT'), 2)]).toEqual([0, 0, 0]);
    t.writeBar(at('QUEUE_SELECT'), 2, 2);
    expect(t.readBar(at('QUEUE_ENABLE'), 2)).toBe(0);
    expect(t.readBar(at('QUEUE_SIZE'), 2)).toBe(SIZES[2]);
    expect(t.counters.queueBusy).toBe(0);
  });
});

describe('notify, ISR and device-specific regions of BAR 0', () => {
  it('delivers a 16-bit write at a queue notify address to that queue only', () => {
    const { t, device } = rig();
    t.writeBar(PciLayout.NOTIFY + 2 * 2, 2, 2);
    t.writeBar(PciLayout.NOTIFY, 2, 0);
    expect(device.notified).toEqual([2, 0]);
    // Past the last queue, the wrong width, or a read: nothing is notified.
    t.writeBar(PciLayout.NOTIFY + 2 * SIZES.length, 2, SIZES.length);
    t.writeBar(PciLayout.NOTIFY, 4, 0);
    t.writeBar(PciLayout.NOTIFY, 1, 0);
    expect(t.readBar(PciLayout.NOTIFY, 2)).toBe(0);
    expect(device.notified).toEqual([2, 0]);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 1, badWrite: 3, queueBusy: 0 });
  });

  it('reads the ISR only as a byte, and that read acknowledges it', () => {
    const { t, device } = rig();
    goLive(t);
    device.bump();
    expect(device.interruptStatus).toBe(2);
    expect(t.readBar(PciLayout.ISR, 2)).toBe(0);
    expect(t.readBar(PciLayout.ISR, 4)).toBe(0);
    expect(device.interruptStatus).toBe(2);
    expect(t.counters.badRead).toBe(2);
    t.writeBar(PciLayout.ISR, 1, 0); // read-only
    expect(device.interruptStatus).toBe(2);
    expect(t.counters.badWrite).toBe(1);
    expect(t.readBar(PciLayout.ISR, 1)).toBe(2);
    expect(device.interruptStatus).toBe(0);
    expect(t.readBar(PciLayout.ISR, 1)).toBe(0);
  });

  it('forwards every access inside the device-specific window to the device config', () => {
    const { t, device } = rig();
    t.writeBar(PciLayout.DEVICE, 4, 0x11223344);
    t.writeBar(PciLayout.DEVICE + 4, 2, 0x5566);
    t.writeBar(PciLayout.DEVICE + 6, 1, 0x77);
    t.writeBar(PciLayout.DEVICE + PciLayout.DEVICE_LENGTH - 4, 4, 0xcafef00d); // the last dword
    expect([...device.config.subarray(0, 7)]).toEqual([0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 0x77]);
    expect(t.readBar(PciLayout.DEVICE, 4)).toBe(0x11223344);
    expect(t.readBar(PciLayout.DEVICE + 4, 2)).toBe(0x5566);
    expect(t.readBar(PciLayout.DEVICE + 6, 1)).toBe(0x77);
    expect(t.readBar(PciLayout.DEVICE + PciLayout.DEVICE_LENGTH - 4, 4)).toBe(0xcafef00d);
    expect(t.readBar(PciLayout.DEVICE + PciLayout.DEVICE_LENGTH - 1, 1)).toBe(0xca);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
    expect(device.counters.ignoredConfigWrites).toBe(0);
  });
});

describe('accesses a driver must not make (virtio 1.2 §4.1.3.1)', () => {
  it('counts misaligned and odd-width BAR accesses as badWidth and ignores them', () => {
    const { t, device } = rig();
    t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE);
    const reads: Array<[number, number]> = [
      [at('QUEUE_SELECT') + 1, 2],
      [at('DEVICE_FEATURE') + 2, 4],
      [PciLayout.DEVICE + 1, 2],
      [at('DEVICE_FEATURE'), 3],
      [at('QUEUE_DESC'), 8],
      [0, 0],
      [-2, 2],
    ];
    for (const [offset, size] of reads) expect(t.readBar(offset, size)).toBe(0);
    expect(t.counters).toEqual({ badWidth: reads.length, badRead: 0, badWrite: 0, queueBusy: 0 });
    for (const [offset, size] of reads) t.writeBar(offset, size, 0);
    t.writeBar(PciLayout.DEVICE + 2, 4, ALL_ONES);
    t.writeBar(at('DEVICE_STATUS'), 2, 0);
    expect(t.counters.badWidth).toBe(2 * reads.length + 1);
    expect(t.counters.badWrite).toBe(1); // the 16-bit status write is aligned: a write to no field
    expect(device.status).toBe(Status.ACKNOWLEDGE);
    expect(device.config.every((b) => b === 0)).toBe(true);
    expect(device.counters.ignoredConfigWrites).toBe(0);
  });

  it('counts an aligned access of the wrong width, or of no field, as badRead / badWrite', () => {
    const { t, device } = rig();
    t.writeBar(at('DEVICE_STATUS'), 1, Status.ACKNOWLEDGE);
    t.writeBar(at('QUEUE_DESC'), 4, 0x1000);
    // Each field must be accessed at its own width; 64-bit ones as two 32-bit halves.
    const wrong: Array<[number, number]> = [
      [at('DEVICE_FEATURE_SELECT'), 2],
      [at('MSIX_CONFIG'), 4],
      [at('MSIX_CONFIG') + 1, 1],
      [at('DEVICE_STATUS'), 2],
      [at('QUEUE_SIZE'), 4],
      [at('QUEUE_ENABLE'), 4],
      [at('QUEUE_DESC'), 2],
      [at('QUEUE_DESC') + 2, 2],
      [0x39, 1],
      [0x3c, 4],
    ];
    for (const [offset, size] of wrong) expect(t.readBar(offset, size)).toBe(0);
    expect(t.counters).toEqual({ badWidth: 0, badRead: wrong.length, badWrite: 0, queueBusy: 0 });
    for (const [offset, size] of wrong) t.writeBar(offset, size, 0);
    expect(t.counters).toEqual({ badWidth: 0, badRead: wrong.length, badWrite: wrong.length, queueBusy: 0 });
    expect(device.status).toBe(Status.ACKNOWLEDGE);
    expect(device.queues[0]!.descTable).toBe(0x1000);
    expect(device.queues[0]!.size).toBe(SIZES[0]);
  });

  it('ignores and counts writes to the read-only common fields', () => {
    const { t, device } = rig();
    const readOnly: Array<[keyof typeof CommonCfg, number]> = [
      ['DEVICE_FEATURE', 4],
      ['NUM_QUEUES', 2],
      ['CONFIG_GENERATION', 1],
      ['QUEUE_NOTIFY_OFF', 2],
    ];
    for (const [field, size] of readOnly) t.writeBar(at(field), size, 0x55);
    expect(t.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: readOnly.length, queueBusy: 0 });
    expect(t.readBar(at('NUM_QUEUES'), 2)).toBe(SIZES.length);
    expect(t.readBar(at('CONFIG_GENERATION'), 1)).toBe(0);
    expect(t.readBar(at('QUEUE_NOTIFY_OFF'), 2)).toBe(0);
    expect(device.status).toBe(0);
  });
});
