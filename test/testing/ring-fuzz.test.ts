import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EchoDevice } from '../../src/testing/echo-device.js';
import type { HostileRing } from '../../src/testing/hostile-ring.js';
import { hostileRingProperty, runHostileRing } from '../../src/testing/ring-fuzz.js';
import { ViolationError } from '../../src/testing/violation.js';
import { DESC_SIZE, DescFlag, Feature, featureBit } from '../../src/virtio/constants.js';
import { readChain, type ChainContext, type DescriptorChain } from '../../src/virtio/descriptor-chain.js';
import { SplitQueue } from '../../src/virtio/split-queue.js';
import { BalloonDevice } from '../../src/virtio/balloon/balloon-device.js';
import { runs } from '../support/runs.js';

const FEATURES = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);

describe('hostile rings and register scripts', () => {
  it('never make the echo device throw, leave RAM, loop, or end inconsistent', () => {
    fc.assert(hostileRingProperty({ makeDevice: (m) => new EchoDevice(m, 16, FEATURES) }), { numRuns: runs(2000) });
  });
});

/**
 * The broken twin: readChain with its loop check taken out. It follows NEXT links for as long
 * as they lead before the real walker checks every other rule, so it returns what readChain
 * returns on any chain without a loop, and never returns on a loop.
 */
function walkWithoutLoopCheck(ctx: ChainContext, head: number): DescriptorChain {
  for (let index = head; index < ctx.queueSize; ) {
    const at = ctx.descTable + DESC_SIZE * index;
    if ((ctx.memory.readU16(at + 12) & (DescFlag.NEXT | DescFlag.INDIRECT)) !== DescFlag.NEXT) break;
    index = ctx.memory.readU16(at + 14);
  }
  return readChain(ctx, head);
}

class LoopingEcho extends EchoDevice {
  protected override newQueue(maxSize: number): SplitQueue {
    return new SplitQueue(this.memory, maxSize, walkWithoutLoopCheck);
  }
}

/** Two descriptors in RAM that link to each other, one chain published. */
const looped: HostileRing = {
  queueSize: 4,
  eventIdx: false,
  indirect: false,
  startIndex: 0xfffe,
  descriptors: [
    { addrLow: 0x8000, addrHigh: 0, len: 8, flags: DescFlag.NEXT, next: 1 },
    { addrLow: 0x8100, addrHigh: 0, len: 8, flags: DescFlag.NEXT, next: 0 },
    { addrLow: 0, addrHigh: 0, len: 0, flags: 0, next: 0 },
    { addrLow: 0, addrHigh: 0, len: 0, flags: 0, next: 0 },
  ],
  table: [],
  heads: [0, 0, 0, 0],
  published: 1,
  availFlags: 0,
  usedEvent: 0,
  usedFlags: 0,
  usedIdx: 0,
  availEvent: 0,
  patches: [],
  script: [],
};

describe('the hostile-ring property has teeth', () => {
  it('passes a looped ring on the real walker and reports the broken one as unbounded', () => {
    expect(runHostileRing(looped, { makeDevice: (m) => new EchoDevice(m, 16, FEATURES) })).toEqual([]);
    const kinds = runHostileRing(looped, { makeDevice: (m) => new LoopingEcho(m, 16, FEATURES), budget: 20_000 }).map((v) => v.kind);
    expect(kinds).toContain('unbounded');
  });

  it('fails on a device whose chain walker has no loop check', () => {
    // A fixed seed and number of runs in every environment: the twin must be found every time.
    const result = fc.check(hostileRingProperty({ makeDevice: (m) => new LoopingEcho(m, 16, FEATURES), budget: 20_000 }), { numRuns: 500, seed: 3 });
    expect(result.failed).toBe(true);
    // It is caught for the loop, not for anything else.
    expect(result.errorInstance).toBeInstanceOf(ViolationError);
    const kinds = new Set((result.errorInstance as ViolationError).violations.map((v) => v.kind));
    // (The budget's exception, caught by the device core, also shows as an internal error.)
    expect(kinds).toEqual(new Set(['unbounded', 'internal']));
  });
});

/** A queue that claims four bytes more than the device wrote in every used entry. */
class OverclaimingQueue extends SplitQueue {
  override push(head: number, len: number): void {
    super.push(head, len + 4);
  }
}

describe('the used-ring audit', () => {
  it('passes used lengths that count what the device wrote (echo) or nothing (balloon)', () => {
    fc.assert(hostileRingProperty({ makeDevice: (m) => new EchoDevice(m, 16, FEATURES) }), { numRuns: runs(300), seed: 21 });
    fc.assert(hostileRingProperty({ makeDevice: (m) => new BalloonDevice(m, { statsQueue: true, freePageHint: true, pageReporting: true }), queues: [0, 1, 2, 3, 4], maxQueueSize: 32 }), { numRuns: runs(300), seed: 22 });
  });

  it('catches an echo device whose used entries claim more bytes than it wrote', () => {
    class Overclaiming extends EchoDevice {
      protected override newQueue(maxSize: number): SplitQueue {
        return new OverclaimingQueue(this.memory, maxSize);
      }
    }
    const result = fc.check(hostileRingProperty({ makeDevice: (m) => new Overclaiming(m, 16, FEATURES) }), { numRuns: 500, seed: 23 });
    expect(result.failed).toBe(true);
    const kinds = new Set((result.errorInstance as ViolationError).violations.map((v) => v.kind));
    expect(kinds).toEqual(new Set(['used-length']));
  });

  it('catches a balloon whose used entries claim bytes where it writes none', () => {
    class Overclaiming extends BalloonDevice {
      protected override newQueue(maxSize: number): SplitQueue {
        return new OverclaimingQueue(this.memory, maxSize);
      }
    }
    const result = fc.check(hostileRingProperty({ makeDevice: (m) => new Overclaiming(m, { statsQueue: true }), queues: [0, 1, 2], maxQueueSize: 32 }), { numRuns: 500, seed: 24 });
    expect(result.failed).toBe(true);
    const violations = (result.errorInstance as ViolationError).violations;
    expect(new Set(violations.map((v) => v.kind))).toEqual(new Set(['used-length']));
    expect(violations[0]!.message).toMatch(/says 4 bytes, the device wrote 0/);
  });
});
