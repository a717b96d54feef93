import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { pciRegisterProperty } from '../../src/testing/pci-fuzz.js';
import { ViolationError } from '../../src/testing/violation.js';
import { BalloonDevice, type BalloonOptions } from '../../src/virtio/balloon/balloon-device.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import { runs } from '../support/runs.js';

const BALLOON: BalloonOptions = { statsQueue: true, freePageHint: true, pageReporting: true, pagePoison: true, deflateOnOom: true, mustTellHost: true };

/** The kinds of violation a failed check reported. */
function kindsOf(result: { failed: boolean; errorInstance: unknown }): Set<string> {
  expect(result.failed).toBe(true);
  expect(result.errorInstance).toBeInstanceOf(ViolationError);
  return new Set((result.errorInstance as ViolationError).violations.map((v) => v.kind));
}

describe('pci register scripts', () => {
  it('never make the balloon throw, leave RAM, loop or end inconsistent behind the pci transport', () => {
    fc.assert(
      pciRegisterProperty((m) => new BalloonDevice(m, BALLOON)),
      { numRuns: runs(400) },
    );
  });

  it('never make the echo device do so either', () => {
    fc.assert(
      pciRegisterProperty((m) => new EchoDevice(m, 16, featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC))),
      { numRuns: runs(200) },
    );
  });

  it('catches a device that throws on a feature select above 3', () => {
    class Strict extends BalloonDevice {
      override readDeviceFeatures(select: number): number {
        if (select > 3) throw new RangeError(`no feature window ${select}`);
        return super.readDeviceFeatures(select);
      }
    }
    const result = fc.check(
      pciRegisterProperty((m) => new Strict(m, BALLOON)),
      { numRuns: 300, seed: 31 },
    );
    expect(kindsOf(result)).toEqual(new Set(['threw']));
    expect(String(result.errorInstance)).toMatch(/RangeError: no feature window/);
  });

  it('catches a device that writes outside RAM on every kick', () => {
    class Stray extends BalloonDevice {
      protected override processQueue(index: number): void {
        this.memory.writeU32(this.memory.end, 0);
        super.processQueue(index);
      }
    }
    const result = fc.check(
      pciRegisterProperty((m) => new Stray(m, BALLOON)),
      { numRuns: 300, seed: 32 },
    );
    expect(kindsOf(result)).toEqual(new Set(['out-of-range']));
    expect(String(result.errorInstance)).toMatch(/access at 0x100000\+4/);
  });

  it('catches a device that loops on a kick', () => {
    class Spinning extends BalloonDevice {
      protected override processQueue(): void {
        for (;;) this.memory.readU32(0);
      }
    }
    const result = fc.check(
      pciRegisterProperty((m) => new Spinning(m, BALLOON), { budget: 10_000 }),
      { numRuns: 300, seed: 33 },
    );
    // The budget's exception, caught by the device core, also shows as an internal error.
    expect(kindsOf(result)).toEqual(new Set(['unbounded', 'internal']));
  });
});
