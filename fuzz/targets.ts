import fc from 'fast-check';
import { EchoDevice } from '../src/testing/echo-device.js';
import { watchBalloon } from '../src/testing/balloon-watch.js';
import { hostileRingProperty } from '../src/testing/ring-fuzz.js';
import { streamDecodingProperty } from '../src/testing/stream-fuzz.js';
import { pciRegisterProperty } from '../src/testing/pci-fuzz.js';
import { BalloonDevice, balloonQueueRoles } from '../src/virtio/balloon/balloon-device.js';
import { Feature, featureBit } from '../src/virtio/constants.js';

/** What a campaign over one target found. */
export interface FuzzOutcome {
  /** Inputs run (up to and including the first failing one). */
  readonly inputs: number;
  /** Set when an input failed: how to replay it and what it was, shrunk. */
  readonly failure?: { readonly seed: number; readonly path: string; readonly counterexample: string; readonly error: string };
}

/** How long to fuzz; `path` replays one recorded counterexample of `seed`. */
export interface FuzzRun {
  readonly numRuns: number;
  readonly seed: number;
  readonly path?: string;
}

/** A fuzz target: a property over hostile inputs that must never fail. */
export interface FuzzTarget {
  readonly name: string;
  readonly description: string;
  readonly run: (options: FuzzRun) => FuzzOutcome;
}

/** A target's run from any fast-check property (the fuzz properties live in src/testing). */
function campaign<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>): FuzzTarget['run'] {
  return ({ numRuns, seed, path }) => {
    const details = fc.check(property, { numRuns, seed, ...(path !== undefined ? { path } : {}) });
    if (!details.failed) return { inputs: details.numRuns };
    return {
      inputs: details.numRuns,
      failure: {
        seed: details.seed,
        path: details.counterexamplePath ?? '',
        counterexample: fc.stringify(details.counterexample),
        error: details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance),
      },
    };
  };
}

const ringFeatures = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);
const allBalloonFeatures = { statsQueue: true, freePageHint: true, pageReporting: true, pagePoison: true, deflateOnOom: true, mustTellHost: true };

/** Every campaign; add a target here and `npm run fuzz -- --target <name>` runs it. */
export const targets: readonly FuzzTarget[] = [
  {
    name: 'ring',
    description: 'split ring, descriptor chains and mmio registers (echo device)',
    run: campaign(hostileRingProperty({ makeDevice: (m) => new EchoDevice(m, 16, ringFeatures), maxQueueSize: 16 })),
  },
  {
    name: 'balloon',
    description: 'every balloon queue, config writes and hint rounds',
    run: campaign(
      hostileRingProperty({
        makeDevice: (m) => new BalloonDevice(m, allBalloonFeatures),
        maxQueueSize: 32,
        queues: balloonQueueRoles(~0n).map((_, i) => i),
        observe: (device, out) => watchBalloon(device, out),
      }),
    ),
  },
  {
    name: 'pci',
    description: 'virtio-pci configuration space and BAR registers (balloon device)',
    run: campaign(pciRegisterProperty((m) => new BalloonDevice(m, allBalloonFeatures))),
  },
  {
    name: 'stream',
    description: 'migration stream decoding: well-formed, mangled (bit flips, cuts, splices) and random streams',
    run: campaign(streamDecodingProperty()),
  },
];
