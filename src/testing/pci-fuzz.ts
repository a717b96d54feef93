/** Hostile register accesses to a device behind the virtio-pci transport. */
import fc from 'fast-check';
import { layoutRing } from '../guest/driver-queue.js';
import { PciDriver } from '../guest/pci-driver.js';
import { FlatMemory } from '../memory/flat-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { VirtioDevice } from '../virtio/device.js';
import { CommonCfg, PciLayout, PciTransport } from '../virtio/transport/pci.js';
import { DeviceAudit } from './device-audit.js';
import { DEFAULT_ACCESS_BUDGET } from './ring-fuzz.js';
import { ViolationError, type Violation } from './violation.js';
import { WatchedMemory } from './watched-memory.js';

/** One access a hostile driver makes to a PCI function: configuration space or BAR 0, any offset and width. */
export interface PciAccess {
  readonly space: 'config' | 'bar';
  readonly write: boolean;
  readonly offset: number;
  readonly size: number;
  readonly value: number;
}

/** How far a well-behaved driver brings the function before the hostile accesses. */
export type PciSetup = 'none' | 'probed' | 'negotiated' | 'live';

/** A setup, then accesses. */
export interface PciScript {
  readonly setup: PciSetup;
  readonly accesses: readonly PciAccess[];
}

/** Guest RAM of a script, and where the setup puts each queue's ring. */
const RAM = 1 << 20;
const RING_BASE = 0x10000;
const RING_STRIDE = 0x4000;

const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Anything at all: mostly the registers that exist, sometimes any offset, width or value. */
export const pciAccess: fc.Arbitrary<PciAccess> = fc.record({
  space: fc.constantFrom('config' as const, 'bar' as const),
  write: fc.boolean(),
  offset: fc.oneof(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: -8, max: 0x1ff })),
  size: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2, 4) }, { weight: 1, arbitrary: fc.constantFrom(0, 3, 8) }),
  value: fc.oneof(fc.constantFrom(0, 1, 0xf, 0xff, 0xffff, 0xffffffff), fc.nat()),
});

const bar = (write: boolean, offset: number, size: number, value: fc.Arbitrary<number>): fc.Arbitrary<PciAccess> => value.map((v) => ({ space: 'bar' as const, write, offset, size, value: v }));

/**
 * Accesses that mean something to a virtio-pci function: feature and queue selects (past the
 * windows that exist too), feature reads and writes, status steps, queue setup with addresses
 * in and out of RAM, enables, notifications, ISR reads, device config.
 */
const meaningful: fc.Arbitrary<PciAccess> = fc.oneof(
  bar(true, CommonCfg.DEVICE_FEATURE_SELECT, 4, fc.oneof(fc.integer({ min: 0, max: 8 }), u32)),
  bar(false, CommonCfg.DEVICE_FEATURE, 4, fc.constant(0)),
  bar(true, CommonCfg.DRIVER_FEATURE_SELECT, 4, fc.oneof(fc.integer({ min: 0, max: 8 }), u32)),
  bar(true, CommonCfg.DRIVER_FEATURE, 4, u32),
  bar(false, CommonCfg.DRIVER_FEATURE, 4, fc.constant(0)),
  bar(true, CommonCfg.DEVICE_STATUS, 1, fc.oneof(fc.constantFrom(0, 0x01, 0x03, 0x0b, 0x0f, 0x07, 0x40, 0x80), fc.nat(0xff))),
  bar(true, CommonCfg.QUEUE_SELECT, 2, fc.oneof(fc.integer({ min: 0, max: 6 }), fc.nat(0xffff))),
  bar(true, CommonCfg.QUEUE_SIZE, 2, fc.oneof(fc.constantFrom(0, 1, 3, 8, 16, 256, 0x8000), fc.nat(0xffff))),
  bar(true, CommonCfg.QUEUE_ENABLE, 2, fc.constantFrom(0, 1)),
  fc
    .constantFrom(CommonCfg.QUEUE_DESC, CommonCfg.QUEUE_DRIVER, CommonCfg.QUEUE_DEVICE)
    .chain((field) =>
      fc
        .tuple(fc.constantFrom(0, 4), fc.oneof(fc.constantFrom(0, 1, RING_BASE, RAM - 8, RAM, 0x200000, 0xffffffff), u32))
        .map(([half, value]) => ({ space: 'bar' as const, write: true, offset: field + half, size: 4, value })),
    ),
  fc.integer({ min: 0, max: 6 }).map((q) => ({ space: 'bar' as const, write: true, offset: PciLayout.NOTIFY + PciLayout.NOTIFY_MULTIPLIER * q, size: 2, value: q })),
  bar(false, PciLayout.ISR, 1, fc.constant(0)),
  fc
    .record({ write: fc.boolean(), at: fc.integer({ min: 0, max: PciLayout.DEVICE_LENGTH - 1 }), size: fc.constantFrom(1, 2, 4), value: u32 })
    .map(({ write, at, size, value }) => ({ space: 'bar' as const, write, offset: PciLayout.DEVICE + at - (at % size), size, value })),
);

/** A setup, then up to 60 accesses, most of them meaningful. */
export const pciScript: fc.Arbitrary<PciScript> = fc.record({
  setup: fc.constantFrom<PciSetup>('none', 'probed', 'negotiated', 'live', 'live'),
  accesses: fc.array(fc.oneof({ weight: 3, arbitrary: meaningful }, { weight: 1, arbitrary: pciAccess }), { maxLength: 60 }),
});

/** Options of {@link runPciScript} and {@link pciRegisterProperty}. */
export interface PciRunOptions {
  /** Guest memory accesses allowed per script (default {@link DEFAULT_ACCESS_BUDGET}). */
  readonly budget?: number;
}

/**
 * Run one script against a device behind the virtio-pci transport and report every violation:
 * an exception that reached the VMM, guest memory touched outside RAM, more memory accesses than
 * the budget (a loop), an internal error, a vendor or device id that changed, and whatever
 * {@link DeviceAudit} finds on queue 0 (used lengths included). Empty means the device survived.
 */
export function runPciScript(script: PciScript, makeDevice: (memory: GuestMemory) => VirtioDevice, options: PciRunOptions = {}): Violation[] {
  const budget = options.budget ?? DEFAULT_ACCESS_BUDGET;
  const ram = new FlatMemory(RAM);
  const watched = new WatchedMemory(ram, budget);
  const violations: Violation[] = [];
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      violations.push({ kind: 'threw', message: `${what}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}` });
    }
  };
  let transport: PciTransport | undefined;
  attempt('construction', () => void (transport = new PciTransport(makeDevice(watched))));
  if (transport === undefined) return violations;
  const t = transport;
  const identity = t.readConfig(0, 4);

  attempt('setup', () => {
    if (script.setup === 'none') return;
    const driver = new PciDriver(t, ram);
    if (driver.probe() === undefined || script.setup === 'probed') return;
    if (driver.negotiate((offered) => offered) === undefined) return;
    const queues = t.device.queues.length;
    for (let i = 0; i < queues; i++) driver.setupQueue(i, layoutRing(RING_BASE + i * RING_STRIDE, Math.min(16, driver.queueMaxSize(i))));
    if (script.setup === 'live') driver.driverOk();
  });
  const audit = new DeviceAudit(t.device, 0, ram);

  for (const a of script.accesses) {
    const what = `${a.write ? 'write' : 'read'} ${a.space}+0x${a.offset.toString(16)}/${a.size}${a.write ? ` = 0x${a.value.toString(16)}` : ''}`;
    attempt(what, () => {
      if (a.space === 'config') {
        if (a.write) t.writeConfig(a.offset, a.size, a.value);
        else t.readConfig(a.offset, a.size);
      } else if (a.write) t.writeBar(a.offset, a.size, a.value);
      else t.readBar(a.offset, a.size);
    });
    if (watched.budgetExceeded) break;
  }

  if (watched.budgetExceeded) violations.push({ kind: 'unbounded', message: `more than ${budget} guest memory accesses` });
  for (const [gpa, length] of watched.outOfRange.slice(0, 3)) violations.push({ kind: 'out-of-range', message: `access at 0x${gpa.toString(16)}+${length}` });
  if (t.readConfig(0, 4) !== identity) violations.push({ kind: 'inconsistent', message: 'vendor and device id changed' });
  const reason = t.device.needsResetReason;
  if (reason?.kind === 'internal') violations.push({ kind: 'internal', message: reason.message });
  violations.push(...audit.finish());
  return violations;
}

/**
 * The fuzz property for a device behind the virtio-pci transport: any script (a setup as far
 * as DRIVER_OK, then meaningful and arbitrary accesses to configuration space and BAR 0) finds
 * no violation ({@link runPciScript}). Failures throw a {@link ViolationError}.
 */
export function pciRegisterProperty(makeDevice: (memory: GuestMemory) => VirtioDevice, options: PciRunOptions = {}): fc.IProperty<[PciScript]> {
  return fc.property(pciScript, (script) => {
    const violations = runPciScript(script, makeDevice, options);
    if (violations.length > 0) throw new ViolationError(violations);
  });
}
