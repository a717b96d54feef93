import fc from 'fast-check';
import { FlatMemory } from '../memory/flat-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { VirtioDevice } from '../virtio/device.js';
import { PciTransport } from '../virtio/transport/pci.js';
import { ViolationError, type Violation } from './violation.js';

/** One access a hostile driver makes to a PCI function: configuration space or BAR 0, any offset and width. */
export interface PciAccess {
  readonly space: 'config' | 'bar';
  readonly write: boolean;
  readonly offset: number;
  readonly size: number;
  readonly value: number;
}

export const pciAccess: fc.Arbitrary<PciAccess> = fc.record({
  space: fc.constantFrom('config' as const, 'bar' as const),
  write: fc.boolean(),
  // Mostly the registers that exist, sometimes anything.
  offset: fc.oneof(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: -8, max: 0x1ff })),
  size: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2, 4) }, { weight: 1, arbitrary: fc.constantFrom(0, 3, 8) }),
  value: fc.oneof(fc.constantFrom(0, 1, 0xf, 0xff, 0xffff, 0xffffffff), fc.nat()),
});

/**
 * The fuzz property for a device behind the virtio-pci transport: any sequence of register
 * accesses (with the device's queues and config) never throws into the VMM and keeps the
 * function's identity.
 */
export function pciRegisterProperty(makeDevice: (memory: GuestMemory) => VirtioDevice): fc.IProperty<[PciAccess[]]> {
  return fc.property(fc.array(pciAccess, { maxLength: 200 }), (accesses) => {
    const memory = new FlatMemory(1 << 20);
    const transport = new PciTransport(makeDevice(memory));
    const vendor = transport.readConfig(0, 4);
    const violations: Violation[] = [];
    for (const a of accesses) {
      try {
        if (a.space === 'config') {
          if (a.write) transport.writeConfig(a.offset, a.size, a.value);
          else transport.readConfig(a.offset, a.size);
        } else if (a.write) transport.writeBar(a.offset, a.size, a.value);
        else transport.readBar(a.offset, a.size);
      } catch (error) {
        violations.push({ kind: 'threw', message: `${a.write ? 'write' : 'read'} ${a.space}+${a.offset}/${a.size}: ${String(error)}` });
      }
    }
    if (transport.readConfig(0, 4) !== vendor) violations.push({ kind: 'inconsistent', message: 'vendor and device id changed' });
    if (transport.device.needsResetReason?.kind === 'internal') violations.push({ kind: 'internal', message: transport.device.needsResetReason.message });
    if (violations.length > 0) throw new ViolationError(violations);
  });
}
