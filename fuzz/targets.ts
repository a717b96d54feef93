import fc from 'fast-check';
import { EchoDevice } from '../src/testing/echo-device.js';
import { watchBalloon } from '../src/testing/balloon-watch.js';
import { hostileRing, runHostileRing } from '../src/testing/hostile-ring.js';
import { BalloonDevice, balloonQueueRoles } from '../src/virtio/balloon/balloon-device.js';
import { Feature, featureBit } from '../src/virtio/constants.js';

/** What a campaign over one target found. */
export interface FuzzOutcome {
  readonly inputs: number;
  /** Set when an input failed: how to replay it and what it was. */
  readonly failure?: { readonly seed: number; readonly path: string; readonly counterexample: string; readonly error: string };
}

/** A fuzz target: a property over hostile inputs that must never fail. */
export interface FuzzTarget {
  readonly name: string;
  readonly description: string;
  readonly run: (numRuns: number, seed: number) => FuzzOutcome;
}

function campaign<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>): FuzzTarget['run'] {
  return (numRuns, seed) => {
    const details = fc.check(property, { numRuns, seed });
    if (!details.failed) return { inputs: details.numRuns };
    return {
      inputs: details.numRuns,
      failure: {
        seed: details.seed,
        path: details.counterexamplePath ?? '',
        counterexample: fc.stringify(details.counterexample),
        error: String(details.errorInstance),
      },
    };
  };
}

function noViolations(violations: string[]): void {
  if (violations.length > 0) throw new Error(violations.join('; '));
}

const ringFeatures = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);
const allBalloonFeatures = { statsQueue: true, freePageHint: true, pageReporting: true, pagePoison: true, deflateOnOom: true, mustTellHost: true };

export const targets: readonly FuzzTarget[] = [
  {
    name: 'ring',
    description: 'split ring, descriptor chains and mmio registers (echo device)',
    run: campaign(
      fc.property(hostileRing(16), (input) => {
        noViolations(runHostileRing(input, { makeDevice: (m) => new EchoDevice(m, 16, ringFeatures), queue: 0 }));
      }),
    ),
  },
  {
    name: 'balloon',
    description: 'every balloon queue, config writes and hint rounds',
    run: campaign(
      fc.property(hostileRing(32), fc.integer({ min: 0, max: balloonQueueRoles(~0n).length - 1 }), (input, queue) => {
        noViolations(
          runHostileRing(input, {
            makeDevice: (m) => new BalloonDevice(m, allBalloonFeatures),
            queue,
            observe: (device, out) => watchBalloon(device, out),
          }),
        );
      }),
    ),
  },
];
