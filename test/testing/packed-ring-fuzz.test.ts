import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { hostilePackedLayout, hostilePackedRing, hostilePackedStart, placeHostilePackedRing, type HostilePackedRing } from '../../src/testing/hostile-packed-ring.js';
import { HOSTILE_RAM } from '../../src/testing/hostile-ring.js';
import { hostilePackedRingProperty, runHostilePackedRing } from '../../src/testing/ring-fuzz.js';
import type { ViolationError } from '../../src/testing/violation.js';
import { BalloonDevice } from '../../src/virtio/balloon/balloon-device.js';
import { DescFlag, Feature, featureBit } from '../../src/virtio/constants.js';
import type { VirtioErrorKind } from '../../src/virtio/errors.js';
import { PackedQueue } from '../../src/virtio/packed-queue.js';
import { isAvailable } from '../../src/virtio/packed-ring.js';
import { runs } from '../support/runs.js';

const FEATURES = featureBit(Feature.RING_PACKED) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);
const BALLOON = { statsQueue: true, freePageHint: true, pageReporting: true, packedRing: true } as const;

describe('hostile packed rings', () => {
  it('are placed so that the start slot is available in the start lap, and the device resumes behind what it holds', () => {
    fc.assert(
      fc.property(hostilePackedRing(32), (input) => {
        const memory = new FlatMemory(HOSTILE_RAM);
        placeHostilePackedRing(memory, input);
        const layout = hostilePackedLayout(input);
        expect(layout.size).toBe(input.queueSize);
        const flags = memory.readU16(layout.descRing + 16 * input.startSlot + 14);
        expect(isAvailable(flags, input.startWrap)).toBe(input.descriptors[input.startSlot]!.mark === 'avail');
        const start = hostilePackedStart(input);
        // The held descriptors lie between the used position and the start, a lap back if need be.
        const between = start.nextAvail - start.nextUsed + (start.availWrap === start.usedWrap ? 0 : input.queueSize);
        expect(between).toBe(input.held);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('reach every guest error a packed ring can hold', () => {
    // A fixed sample: the generator must keep producing each hazard, not just some of them.
    const reached = new Set<VirtioErrorKind>();
    const makeDevice = (m: GuestMemory): EchoDevice => {
      const device = new EchoDevice(m, 16, FEATURES);
      device.errors$.subscribe((e) => reached.add(e.kind));
      return device;
    };
    fc.assert(
      fc.property(hostilePackedRing(16), (input) => void runHostilePackedRing(input, { makeDevice })),
      { numRuns: 3000, seed: 11 },
    );
    const expected: VirtioErrorKind[] = [
      'ring-overrun',
      'descriptor-not-available',
      'buffer-id-out-of-range',
      'buffer-id-in-use',
      'chain-too-long',
      'chain-too-large',
      'buffer-out-of-range',
      'indirect-not-negotiated',
      'indirect-with-next',
      'bad-indirect-length',
      'readable-after-writable',
      'ring-out-of-range',
      'ring-misaligned',
      'bad-queue-size',
      'bad-status-transition',
    ];
    expect([...reached].sort()).toEqual(expect.arrayContaining(expected));
  });

  it('never make the echo device throw, leave RAM, loop, claim bytes it did not write, or end inconsistent', () => {
    fc.assert(hostilePackedRingProperty({ makeDevice: (m) => new EchoDevice(m, 16, FEATURES) }), { numRuns: runs(2000) });
  });

  it('nor the balloon, on every queue', () => {
    fc.assert(hostilePackedRingProperty({ makeDevice: (m) => new BalloonDevice(m, BALLOON), queues: [0, 1, 2, 3, 4], maxQueueSize: 32 }), { numRuns: runs(500) });
  });

  it('need a device that offers RING_PACKED, and say so', () => {
    const result = fc.check(hostilePackedRingProperty({ makeDevice: (m) => new EchoDevice(m, 16) }), { numRuns: 1, seed: 1 });
    expect(String(result.errorInstance)).toMatch(/setup: the device does not offer VIRTIO_F_RING_PACKED/);
  });
});

/** A queue that walks a NEXT list with no bound on the slots it reads: it goes round the ring for ever on a ring that is all NEXT. */
class UnboundedWalk extends PackedQueue {
  override pop(): ReturnType<PackedQueue['pop']> {
    if (this.pending() === 0) return undefined;
    for (let slot = this.nextAvail; ; slot = (slot + 1) % this.size) {
      if (!(this.memory.readU16(this.descRing + 16 * slot + 14) & DescFlag.NEXT)) break;
    }
    return super.pop();
  }
}

class UnboundedEcho extends EchoDevice {
  protected override newPackedQueue(maxSize: number): PackedQueue {
    return new UnboundedWalk(this.memory, maxSize);
  }
}

/** A queue whose used descriptors claim four bytes more than the device wrote. */
class Overclaiming extends PackedQueue {
  override push(id: number, len: number): void {
    super.push(id, len + 4);
  }
}

class OverclaimingBalloon extends BalloonDevice {
  protected override newPackedQueue(maxSize: number): PackedQueue {
    return new Overclaiming(this.memory, maxSize);
  }
}

/** Every slot a NEXT link in RAM: a list that never ends. */
const circular: HostilePackedRing = {
  queueSize: 4,
  eventIdx: false,
  indirect: false,
  startSlot: 2,
  startWrap: 0,
  held: 0,
  heldId: 0,
  descriptors: [0, 1, 2, 3].map((i) => ({ addrLow: 0x8000 + 0x100 * i, addrHigh: 0, len: 8, id: i, flags: DescFlag.NEXT, mark: 'avail' as const })),
  table: [],
  driverFlags: 0,
  driverOffWrap: 0,
  deviceFlags: 0,
  deviceOffWrap: 0,
  patches: [],
  script: [],
};

describe('the hostile packed ring property has teeth', () => {
  it('passes a ring that is one endless list on the real device (ring-overrun) and reports the unbounded walk', () => {
    const errors: string[] = [];
    expect(
      runHostilePackedRing(circular, {
        makeDevice: (m) => {
          const d = new EchoDevice(m, 16, FEATURES);
          d.errors$.subscribe((e) => errors.push(e.kind));
          return d;
        },
      }),
    ).toEqual([]);
    expect(errors).toEqual(['ring-overrun']);
    const kinds = runHostilePackedRing(circular, { makeDevice: (m) => new UnboundedEcho(m, 16, FEATURES), budget: 20_000 }).map((v) => v.kind);
    expect(kinds).toContain('unbounded');
  });

  it('catches a balloon whose used descriptors claim bytes where it writes none', () => {
    const result = fc.check(hostilePackedRingProperty({ makeDevice: (m) => new OverclaimingBalloon(m, BALLOON), queues: [0, 1, 2], maxQueueSize: 32 }), { numRuns: 500, seed: 24 });
    expect(result.failed).toBe(true);
    const violations = (result.errorInstance as ViolationError).violations;
    expect(new Set(violations.map((v) => v.kind))).toEqual(new Set(['used-length']));
    expect(violations[0]!.message).toMatch(/says 4 bytes, the device wrote 0/);
  });
});
