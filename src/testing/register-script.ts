/** Scripts of virtio-mmio register accesses, meaningful and arbitrary, for the ring fuzzer. */
import fc from 'fast-check';
import { MmioReg } from '../virtio/transport/mmio.js';

/** One register access, or a notification of the queue under test. */
export type RegisterAccess = { readonly kind: 'read' | 'write'; readonly offset: number; readonly size: number; readonly value: number } | { readonly kind: 'kick' };

const u32 = fc.integer({ min: 0, max: 0xffffffff });

const write = (offset: fc.Arbitrary<number>, value: fc.Arbitrary<number>): fc.Arbitrary<RegisterAccess> => fc.record({ kind: fc.constant('write' as const), offset, size: fc.constant(4), value });

const queueField = (ringBase: number): fc.Arbitrary<RegisterAccess> =>
  fc.oneof(
    write(fc.constant(MmioReg.QUEUE_NUM), fc.oneof(fc.constantFrom(0, 1, 3, 8, 16, 32, 64, 0x8000, 0x10000), u32)),
    write(
      fc.constantFrom(MmioReg.QUEUE_DESC_LOW, MmioReg.QUEUE_DESC_HIGH, MmioReg.QUEUE_DRIVER_LOW, MmioReg.QUEUE_DRIVER_HIGH, MmioReg.QUEUE_DEVICE_LOW, MmioReg.QUEUE_DEVICE_HIGH),
      fc.oneof(fc.constantFrom(0, 1, 2, ringBase, 0x10000, 0xfff8, 0x200000, 0xffffffff), u32),
    ),
  );

/** Register writes that mean something: status steps, queue setup out of order, acks, features. */
const meaningful = (ringBase: number): fc.Arbitrary<RegisterAccess> =>
  fc.oneof(
    write(fc.constant(MmioReg.STATUS), fc.oneof(fc.constantFrom(0, 0x01, 0x03, 0x07, 0x0b, 0x0f, 0x40, 0x4f, 0x80, 0x8f), fc.integer({ min: 0, max: 0xff }))),
    write(fc.constant(MmioReg.QUEUE_READY), fc.constantFrom(0, 1)),
    write(fc.constant(MmioReg.QUEUE_SEL), fc.oneof(fc.integer({ min: 0, max: 5 }), u32)),
    queueField(ringBase),
    write(fc.constant(MmioReg.QUEUE_NOTIFY), fc.oneof(fc.integer({ min: 0, max: 5 }), u32)),
    write(fc.constant(MmioReg.INTERRUPT_ACK), fc.integer({ min: 0, max: 3 })),
    write(fc.constantFrom(MmioReg.DRIVER_FEATURES_SEL, MmioReg.DEVICE_FEATURES_SEL), fc.integer({ min: 0, max: 4 })),
    write(fc.constant(MmioReg.DRIVER_FEATURES), u32),
  );

/** Any access at all: offsets anywhere in (and past) the window, any width, any value. */
const anyAccess: fc.Arbitrary<RegisterAccess> = fc.record({
  kind: fc.constantFrom('read' as const, 'write' as const),
  offset: fc.oneof(
    fc.integer({ min: 0, max: 0x43 }).map((w) => w * 4),
    fc.integer({ min: 0, max: 0x1100 }),
  ),
  size: fc.oneof({ weight: 4, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 8) }),
  value: fc.oneof(u32, fc.constantFrom(0, 1, 2, 0xffffffff, 0x74726976)),
});

/** A live queue taken down, changed and brought back (§4.2.2.2 allows it; the new layout may be bad). */
const requeue = (ringBase: number): fc.Arbitrary<RegisterAccess[]> =>
  fc
    .array(queueField(ringBase), { minLength: 1, maxLength: 3 })
    .map((fields): RegisterAccess[] => [{ kind: 'write', offset: MmioReg.QUEUE_READY, size: 4, value: 0 }, ...fields, { kind: 'write', offset: MmioReg.QUEUE_READY, size: 4, value: 1 }]);

/**
 * Scripts of up to ten steps against an mmio window: kicks of the queue under test, writes that
 * mean something (status steps, queue setup out of order, acks, feature words), any access at
 * any offset, width and value, and live queues re-pointed (at `ringBase` or anywhere).
 */
export function registerScript(ringBase: number): fc.Arbitrary<RegisterAccess[]> {
  const step = fc.oneof(
    { weight: 4, arbitrary: fc.constant<RegisterAccess[]>([{ kind: 'kick' }]) },
    { weight: 4, arbitrary: meaningful(ringBase).map((a) => [a]) },
    { weight: 4, arbitrary: anyAccess.map((a) => [a]) },
    { weight: 1, arbitrary: requeue(ringBase) },
  );
  return fc.array(step, { maxLength: 10 }).map((steps) => steps.flat());
}
