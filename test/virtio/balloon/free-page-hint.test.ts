import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CMD_ID_MAX, CMD_ID_MIN, FreePageHint, type NextCommandId } from '../../../src/virtio/balloon/free-page-hint.js';
import { runs } from '../../support/runs.js';

/** Host and driver steps that move command ids along. */
type Step = 'start' | 'driverStartsCurrent' | 'driverStops' | 'hostStop' | 'hostDone' | 'reset';
const step = fc.constantFrom<Step>('start', 'start', 'driverStartsCurrent', 'driverStops', 'hostStop', 'hostDone', 'reset');

/**
 * Drive the state machine and check the id rules (H7): never 0 or 1, never an id the driver
 * started a round with and has not yet STOPped. Returns the ids issued.
 */
function drive(hint: FreePageHint, steps: readonly Step[]): number[] {
  const issued: number[] = [];
  let inUseByDriver: number | undefined;
  for (const s of steps) {
    switch (s) {
      case 'start': {
        const id = hint.start();
        if (id === undefined) break;
        expect(id, 'an issued id is the reserved STOP').not.toBe(0);
        expect(id, 'an issued id is the reserved DONE').not.toBe(1);
        expect(id, 'an id issued again while the driver still uses it (H7)').not.toBe(inUseByDriver);
        issued.push(id);
        break;
      }
      case 'driverStartsCurrent':
        // A Linux driver sends the id it read only when it is not already running a round.
        if (inUseByDriver === undefined && hint.command(hint.configValue) === 'started') inUseByDriver = hint.cmdId;
        break;
      case 'driverStops':
        hint.command(0);
        inUseByDriver = undefined;
        break;
      case 'hostStop':
        hint.stop();
        break;
      case 'hostDone':
        hint.done();
        break;
      case 'reset':
        hint.reset();
        inUseByDriver = undefined;
        break;
    }
  }
  return issued;
}

describe('command id allocation', () => {
  it('starts at 0x80000001 and counts up like QEMU', () => {
    const hint = new FreePageHint();
    expect(hint.start()).toBe(0x80000001);
    expect(hint.start()).toBe(0x80000002);
  });

  it('wraps from 0xffffffff to 0x80000000, never to 0 or 1', () => {
    const hint = new FreePageHint();
    hint.restore({ state: 'stop', cmdId: CMD_ID_MAX - 1 });
    expect([hint.start(), hint.start(), hint.start()]).toEqual([CMD_ID_MAX, CMD_ID_MIN, CMD_ID_MIN + 1]);
  });

  it('never yields 0/1 nor reuses an id before its STOP, across the wrap (real range, near the top)', () => {
    fc.assert(
      fc.property(fc.integer({ min: CMD_ID_MAX - 20, max: CMD_ID_MAX }), fc.array(step, { maxLength: 80 }), (startAt, steps) => {
        const hint = new FreePageHint();
        hint.restore({ state: 'stop', cmdId: startAt });
        drive(hint, steps);
      }),
      { numRuns: runs(300) },
    );
  });

  /** The same rules in an id space of 1–5 ids, where wraps happen every few rounds. */
  function tinySpace(nextId?: NextCommandId): fc.IProperty<[number, Step[]]> {
    return fc.property(fc.integer({ min: 0, max: 4 }), fc.array(step, { maxLength: 120 }), (extra, steps) => {
      const idRange = { min: 2, max: 2 + extra };
      const hint = new FreePageHint(nextId ? { idRange, nextId } : { idRange });
      for (const id of drive(hint, steps)) expect(id >= idRange.min && id <= idRange.max).toBe(true);
    });
  }

  it('never reuses an id before its STOP in a tiny id space', () => {
    fc.assert(tinySpace(), { numRuns: runs(300) });
  });

  it('catches an allocator that is a plain wrapping counter', () => {
    const plainCounter: NextCommandId = (current, range) => (current >= range.max ? range.min : current + 1);
    const result = fc.check(tinySpace(plainCounter), { numRuns: 300, seed: 7 });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/an id issued again while the driver still uses it/);
  });
});
