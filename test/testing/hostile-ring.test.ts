import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { hostileRing, runHostileRing, type HostileRing } from '../../src/testing/hostile-ring.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import type { ChainContext, DescriptorChain } from '../../src/virtio/descriptor-chain.js';
import { readChain } from '../../src/virtio/descriptor-chain.js';
import { VirtioError } from '../../src/virtio/errors.js';
import { SplitQueue } from '../../src/virtio/split-queue.js';
import { runs } from '../support/runs.js';

const FEATURES = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);

describe('hostile rings and registers', () => {
  it('never make the echo device throw, touch memory outside RAM, loop, or end inconsistent', () => {
    fc.assert(
      fc.property(hostileRing(16), (input) => {
        expect(runHostileRing(input, { makeDevice: (m) => new EchoDevice(m, 16, FEATURES), queue: 0 })).toEqual([]);
      }),
      { numRuns: runs(500) },
    );
  });
});

/**
 * The real walker with its loop check taken out: identical on every chain without a loop; on a
 * loop it spins, re-reading descriptors as a device without the check would, forever.
 */
function walkWithoutLoopCheck(ctx: ChainContext, head: number): DescriptorChain {
  try {
    return readChain(ctx, head);
  } catch (error) {
    if (!(error instanceof VirtioError) || error.kind !== 'chain-too-long') throw error;
    for (;;) ctx.memory.readU16(ctx.descTable + 16 * head + 14);
  }
}

class LoopingEcho extends EchoDevice {
  protected override newQueue(maxSize: number): SplitQueue {
    return new SplitQueue(this.memory as GuestMemory, maxSize, walkWithoutLoopCheck);
  }
}

describe('the hostile-ring property has teeth', () => {
  it('catches a device whose chain walker has no loop check', () => {
    const run = (input: HostileRing): string[] => runHostileRing(input, { makeDevice: (m) => new LoopingEcho(m, 16, FEATURES), queue: 0, budget: 20_000 });
    const result = fc.check(
      fc.property(hostileRing(16), (input) => {
        expect(run(input)).toEqual([]);
      }),
      { numRuns: 500, seed: 3 },
    );
    expect(result.failed).toBe(true);
    // It is caught for the loop, not for anything else.
    expect(run(result.counterexample![0])).toContain('unbounded: the device kept accessing guest memory past the budget');
  });
});
