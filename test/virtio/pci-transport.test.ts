import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BalloonDriver } from '../../src/guest/balloon-driver.js';
import { GuestKernel } from '../../src/guest/kernel.js';
import { PciDriver } from '../../src/guest/pci-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { BalloonDevice } from '../../src/virtio/balloon/balloon-device.js';
import { BalloonFeature } from '../../src/virtio/balloon/constants.js';
import { Feature, Status, featureBit } from '../../src/virtio/constants.js';
import { CommonCfg, PCI_BAR_SIZE, PciCapType, PciLayout, PciTransport } from '../../src/virtio/transport/pci.js';
import { runs } from '../support/runs.js';

const RAM = 64 << 20;

function setUp() {
  const memory = new FlatMemory(RAM);
  const device = new BalloonDevice(memory, { statsQueue: true, freePageHint: true, deflateOnOom: true });
  const transport = new PciTransport(device);
  return { memory, device, transport };
}

/** The capability list as a driver walks it: [cfg_type, bar, offset, length]. */
function capabilities(t: PciTransport): Array<[number, number, number, number]> {
  const caps: Array<[number, number, number, number]> = [];
  for (let at = t.readConfig(0x34, 1); at !== 0; at = t.readConfig(at + 1, 1)) {
    expect(t.readConfig(at, 1)).toBe(0x09);
    caps.push([t.readConfig(at + 3, 1), t.readConfig(at + 4, 1), t.readConfig(at + 8, 4), t.readConfig(at + 12, 4)]);
  }
  return caps;
}

describe('virtio-pci transport', () => {
  it('presents a modern virtio function: ids, capability list, one I/O BAR, INTA#', () => {
    const { transport: t } = setUp();
    expect(t.readConfig(0x00, 2)).toBe(0x1af4);
    expect(t.readConfig(0x02, 2)).toBe(0x1045); // 0x1040 + balloon (5)
    expect(t.readConfig(0x08, 1)).toBe(1);
    expect(t.readConfig(0x2e, 2)).toBeGreaterThanOrEqual(0x40);
    expect(t.readConfig(0x06, 2) & (1 << 4)).not.toBe(0);
    expect(t.readConfig(0x3d, 1)).toBe(1);
    const caps = capabilities(t);
    expect(caps.map((c) => c[0]).sort()).toEqual([PciCapType.COMMON, PciCapType.NOTIFY, PciCapType.ISR, PciCapType.DEVICE].sort());
    for (const [, bar, offset, length] of caps) {
      expect(bar).toBe(0);
      expect(offset + length).toBeLessThanOrEqual(PCI_BAR_SIZE);
    }
  });

  it('sizes and places BAR 0 as firmware does', () => {
    const { transport: t } = setUp();
    t.writeConfig(0x10, 4, 0xffffffff);
    expect(t.readConfig(0x10, 4) >>> 0).toBe((~(PCI_BAR_SIZE - 1) | 1) >>> 0);
    t.writeConfig(0x10, 4, 0xc000);
    expect(t.barAddress).toBe(0xc000);
    expect(t.readConfig(0x10, 4)).toBe(0xc001);
    t.writeConfig(0x04, 2, 1);
    expect(t.ioEnabled).toBe(true);
    // Read-only fields stay put.
    t.writeConfig(0x00, 4, 0);
    expect(t.readConfig(0x00, 2)).toBe(0x1af4);
  });

  it("serves freehint's own balloon driver over PCI: probe, negotiation, inflate, a hint round", () => {
    const { memory, device, transport } = setUp();
    const pci = new PciDriver(
      { readConfig: (o, s) => transport.readConfig(o, s), writeConfig: (o, s, v) => transport.writeConfig(o, s, v), readBar: (o, s) => transport.readBar(o, s), writeBar: (o, s, v) => transport.writeBar(o, s, v) },
      memory,
    );
    expect(pci.probe()).toEqual({ deviceId: 5 });
    const kernel = new GuestKernel({ memory, seed: 1, initOnAlloc: false, reserved: [[0, 2048]] });
    const driver = new BalloonDriver(pci, memory, kernel.pages, {}, () => ({ freeBytes: 0, totalBytes: 0, availableBytes: 0, cacheBytes: 0, majorFaults: 0, minorFaults: 0 }));
    let level = false;
    transport.intx$.subscribe((high) => (level = high));
    const settle = (): void => {
      for (let i = 0; i < 1000; i++) {
        if (level) driver.handleInterrupt();
        if (!driver.step(0) && !level) return;
      }
    };
    expect(driver.probe()).toBe(true);
    expect(device.hasNegotiated(BalloonFeature.FREE_PAGE_HINT)).toBe(true);
    expect(device.status & Status.DRIVER_OK).not.toBe(0);
    device.setTarget(300);
    settle();
    expect(device.actual).toBe(300);
    expect(device.inflatedPages).toBe(300);
    let hinted = 0;
    device.hints$.subscribe((b) => (hinted += b.ranges.reduce((n, r) => n + r.length, 0)));
    device.startHinting();
    settle();
    expect(hinted).toBeGreaterThan(16 * PAGE_SIZE);
    expect(transport.counters).toEqual({ badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 });
  });

  it('reading the ISR acknowledges it and lowers INTA#; the driver can disable INTx', () => {
    const { transport: t, device } = setUp();
    const seen: boolean[] = [];
    t.intx$.subscribe((h) => seen.push(h));
    t.writeBar(PciLayout.COMMON + CommonCfg.DEVICE_STATUS, 1, Status.ACKNOWLEDGE | Status.DRIVER);
    t.writeBar(PciLayout.COMMON + CommonCfg.DRIVER_FEATURE_SELECT, 4, 1);
    t.writeBar(PciLayout.COMMON + CommonCfg.DRIVER_FEATURE, 4, Number(featureBit(Feature.VERSION_1) >> 32n));
    t.writeBar(PciLayout.COMMON + CommonCfg.DEVICE_STATUS, 1, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
    device.setTarget(5); // a config change interrupt
    expect(t.interruptLine).toBe(true);
    expect(t.readBar(PciLayout.ISR, 1)).toBe(2);
    expect(t.interruptLine).toBe(false);
    expect(t.readBar(PciLayout.ISR, 1)).toBe(0);
    t.writeConfig(0x04, 2, 1 << 10); // INTx disable
    device.setTarget(6);
    expect(t.interruptLine).toBe(false);
    expect(seen).toEqual([false, true, false]);
  });

  it('ignores and counts any access a driver should not make, and never throws', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ space: fc.constantFrom('config', 'bar'), write: fc.boolean(), offset: fc.integer({ min: -4, max: 300 }), size: fc.constantFrom(0, 1, 2, 3, 4, 8), value: fc.nat() })),
        (accesses) => {
          const { transport: t } = setUp();
          for (const a of accesses) {
            if (a.space === 'config') {
              if (a.write) t.writeConfig(a.offset, a.size, a.value);
              else expect(Number.isInteger(t.readConfig(a.offset, a.size))).toBe(true);
            } else if (a.write) t.writeBar(a.offset, a.size, a.value);
            else expect(Number.isInteger(t.readBar(a.offset, a.size))).toBe(true);
          }
          expect(t.readConfig(0x00, 2)).toBe(0x1af4);
        },
      ),
      { numRuns: runs(300) },
    );
  });
});
