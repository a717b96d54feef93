import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hintProtocolProperty } from '../../../src/testing/hint-protocol.js';
import { BalloonDevice } from '../../../src/virtio/balloon/balloon-device.js';
import { FreePageHint } from '../../../src/virtio/balloon/free-page-hint.js';
import { runs } from '../../support/runs.js';

/** The broken twin: a state machine that starts a round on any command id (no id check). */
class NoIdCheck extends FreePageHint {
  override command(id: number): ReturnType<FreePageHint['command']> {
    return super.command(this.state === 'requested' && id !== 0 ? this.cmdId : id);
  }
}

describe('free page hinting against the reference model (freehint/testing)', () => {
  it('publishes exactly the ranges the protocol allows, under the current id', () => {
    fc.assert(
      hintProtocolProperty((memory) => new BalloonDevice(memory, { freePageHint: true })),
      { numRuns: runs(150) },
    );
  });

  it('catches a device that skips the command id check', () => {
    // Fixed runs and seed: a broken twin must be caught the same way in every environment.
    const result = fc.check(
      hintProtocolProperty((memory) => new BalloonDevice(memory, { freePageHint: true, hintProtocol: new NoIdCheck() })),
      { numRuns: 300, seed: 42 },
    );
    expect(result.failed).toBe(true);
    // It fails for the right reason: a range published that the protocol forbids.
    expect(String(result.errorInstance)).toMatch(/published hint pages differ from those the protocol allows/);
  });
});
