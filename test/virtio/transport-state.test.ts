import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { StateError } from '../../src/virtio/state-error.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';
import { CommonCfg, PciTransport } from '../../src/virtio/transport/pci.js';
import { PCI_COMMAND_WRITABLE, parseMmioState, parsePciState } from '../../src/virtio/transport/transport-state.js';

// Transports remember selectors (and on pci, the configuration registers a guest programs)
// between accesses: their saved state resumes a half-done negotiation or queue setup.

const device = (): EchoDevice => new EchoDevice(new FlatMemory(1 << 20), 8, 1n << 28n);

function refused(restore: () => void, field: string): void {
  let error: unknown;
  try {
    restore();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(StateError);
  expect((error as StateError).field).toBe(field);
}

describe('mmio transport state', () => {
  it('resumes the selectors: the feature window and the selected queue', () => {
    const a = new MmioTransport(device());
    a.write(MmioReg.DEVICE_FEATURES_SEL, 4, 1);
    a.write(MmioReg.QUEUE_SEL, 4, 7);
    const b = new MmioTransport(device());
    b.restore(JSON.parse(JSON.stringify(a.save())));
    expect(b.save()).toEqual(a.save());
    expect(b.read(MmioReg.DEVICE_FEATURES, 4)).toBe(1); // VERSION_1 is bit 32
    expect(b.read(MmioReg.QUEUE_NUM_MAX, 4)).toBe(0); // queue 7 does not exist
  });

  it('refuses anything else whole', () => {
    const t = new MmioTransport(device());
    t.write(MmioReg.QUEUE_SEL, 4, 3);
    const before = t.save();
    refused(() => t.restore({ ...before, queueSel: -1 }), 'queueSel');
    refused(() => t.restore({ ...before, deviceFeaturesSel: 2 ** 32 }), 'deviceFeaturesSel');
    refused(() => t.restore({ ...before, format: 'virtio-pci' }), 'format');
    refused(() => t.restore({ ...before, version: 0 }), 'version');
    refused(() => t.restore([before]), 'state');
    expect(t.save()).toEqual(before);
  });
});

describe('pci transport state', () => {
  it('resumes the selectors, the command register, BAR 0 and the interrupt line', () => {
    const a = new PciTransport(device());
    a.writeConfig(0x04, 2, 0x0405);
    a.writeConfig(0x10, 4, 0xc000);
    a.writeConfig(0x3c, 1, 11);
    a.writeBar(CommonCfg.QUEUE_SELECT, 2, 0);
    a.writeBar(CommonCfg.DEVICE_FEATURE_SELECT, 4, 1);
    const b = new PciTransport(device());
    b.restore(JSON.parse(JSON.stringify(a.save())));
    expect(b.save()).toEqual(a.save());
    expect([b.barAddress, b.ioEnabled, b.readConfig(0x3c, 1), b.readConfig(0x04, 2)]).toEqual([0xc000, true, 11, 0x0405]);
    expect(b.readBar(CommonCfg.DEVICE_FEATURE, 4)).toBe(1);
  });

  it('refuses values its registers cannot hold, whole', () => {
    const t = new PciTransport(device());
    const before = t.save();
    refused(() => t.restore({ ...before, command: 0x0002 }), 'command');
    refused(() => t.restore({ ...before, bar: 0xc000 }), 'bar');
    refused(() => t.restore({ ...before, queueSelect: 0x10000 }), 'queueSelect');
    refused(() => t.restore({ ...before, interruptLine: 256 }), 'interruptLine');
    refused(() => t.restore({ ...before, format: 'virtio-mmio' }), 'format');
    expect(t.save()).toEqual(before);
  });
});

describe('transport state parsing, field by field', () => {
  it('returns exactly the saved mmio state, and names each field it refuses', () => {
    const saved = { format: 'virtio-mmio', version: 1, deviceFeaturesSel: 0xffffffff, driverFeaturesSel: 3, queueSel: 9 } as const;
    expect(parseMmioState(saved)).toEqual(saved);
    for (const field of ['deviceFeaturesSel', 'driverFeaturesSel', 'queueSel'] as const) refused(() => parseMmioState({ ...saved, [field]: 'x' }), field);
    refused(() => parseMmioState('x'), 'state');
  });

  it('returns exactly the saved pci state, and names each field it refuses', () => {
    const saved = { format: 'virtio-pci', version: 1, deviceFeatureSelect: 1, driverFeatureSelect: 0xffffffff, queueSelect: 0xffff, command: PCI_COMMAND_WRITABLE, bar: 0xffffff01, interruptLine: 255 } as const;
    expect(parsePciState(saved)).toEqual(saved);
    for (const field of ['deviceFeatureSelect', 'driverFeatureSelect', 'queueSelect', 'command', 'bar', 'interruptLine'] as const) refused(() => parsePciState({ ...saved, [field]: -1 }), field);
    expect(() => parsePciState({ ...saved, command: 0x0002 })).toThrowError(/^command: 0x2 sets bits the command register does not keep$/);
    expect(() => parsePciState({ ...saved, bar: 0xc000 })).toThrowError(/^bar: 0xc000 is not a 256-byte I\/O BAR \(low byte 0x01\)$/);
    refused(() => parsePciState(null), 'state');
  });
});
