import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { HOSTILE_RAM, hostileLayout, hostileRing, placeHostileRing } from '../../src/testing/hostile-ring.js';
import { runHostileRing } from '../../src/testing/ring-fuzz.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import type { VirtioErrorKind } from '../../src/virtio/errors.js';

const FEATURES = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);

describe('hostile ring inputs', () => {
  it('are placed where the layout says, avail.idx published from the start index', () => {
    fc.assert(
      fc.property(hostileRing(32), (input) => {
        const memory = new FlatMemory(HOSTILE_RAM);
        placeHostileRing(memory, input);
        const layout = hostileLayout(input);
        expect(layout.size).toBe(input.queueSize);
        expect(memory.readU16(layout.availRing + 2)).toBe((input.startIndex + input.published) & 0xffff);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('reach every guest error a split ring can hold (H16, H18, H19)', () => {
    // A fixed sample: the generator must keep producing each hazard, not just some of them.
    const reached = new Set<VirtioErrorKind>();
    const makeDevice = (m: GuestMemory): EchoDevice => {
      const device = new EchoDevice(m, 16, FEATURES);
      device.errors$.subscribe((e) => reached.add(e.kind));
      return device;
    };
    fc.assert(
      fc.property(hostileRing(16), (input) => void runHostileRing(input, { makeDevice })),
      { numRuns: 3000, seed: 11 },
    );
    const expected: VirtioErrorKind[] = [
      'head-out-of-range',
      'next-out-of-range',
      'chain-too-long',
      'buffer-out-of-range',
      'indirect-not-negotiated',
      'indirect-with-next',
      'nested-indirect',
      'bad-indirect-length',
      'readable-after-writable',
      'avail-index-too-far',
      'ring-out-of-range',
      'ring-misaligned',
      'bad-queue-size',
      'bad-status-transition',
    ];
    expect([...reached].sort()).toEqual(expect.arrayContaining(expected));
  });
});
