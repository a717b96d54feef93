import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CMD_ID_DONE, CMD_ID_STOP } from '../../../src/virtio/balloon/constants.js';
import { CMD_ID_MAX, CMD_ID_MIN, FreePageHint, nextCommandId } from '../../../src/virtio/balloon/free-page-hint.js';
import { runs } from '../../support/runs.js';

// The free-page-hint command-id protocol (virtio 1.2 §5.5.6.5, QEMU's STOP/REQUESTED/START/DONE)
// one rule at a time: what the driver reads, which of its commands count, which ids are issued.

describe('the state the driver reads (free_page_hint_cmd_id)', () => {
  it('starts in STOP: reads STOP (0) and takes no hints', () => {
    const hint = new FreePageHint();
    expect(hint.state).toBe('stop');
    expect(hint.configValue).toBe(CMD_ID_STOP);
    expect(hint.acceptsHints).toBe(false);
  });

  it('reads the id while requested and started, STOP after stop, DONE after done', () => {
    const hint = new FreePageHint();
    const id = hint.start()!;
    expect(hint.configValue).toBe(id);
    expect(hint.command(id)).toBe('started');
    expect(hint.configValue).toBe(id);
    expect(hint.stop()).toBe(true);
    expect(hint.configValue).toBe(CMD_ID_STOP);
    expect(hint.done()).toBe(true);
    expect(hint.configValue).toBe(CMD_ID_DONE);
  });

  it('reports whether stop and done changed anything', () => {
    const hint = new FreePageHint();
    expect(hint.stop()).toBe(false); // already STOP
    expect(hint.done()).toBe(true);
    expect(hint.done()).toBe(false);
    expect(hint.stop()).toBe(true);
  });
});

describe('driver commands (H6)', () => {
  it('starts the round only with the current id, while requested', () => {
    const hint = new FreePageHint();
    const first = hint.start()!;
    const second = hint.start()!;
    expect(hint.command(first)).toBe('ignored'); // stale id (H6a)
    expect(hint.state).toBe('requested');
    expect(hint.acceptsHints).toBe(false);
    expect(hint.command(second)).toBe('started');
    expect(hint.state).toBe('start');
    expect(hint.acceptsHints).toBe(true);
  });

  it('does not end a new round on a STOP left over from the previous one (H6b)', () => {
    const hint = new FreePageHint();
    hint.start();
    expect(hint.command(CMD_ID_STOP)).toBe('ignored');
    expect(hint.state).toBe('requested');
  });

  it('ends a started round on any command, after which hints no longer count (H6c)', () => {
    for (const command of [CMD_ID_STOP, CMD_ID_DONE, 0x1234]) {
      const hint = new FreePageHint();
      const id = hint.start()!;
      hint.command(id);
      expect(hint.command(command === 0x1234 ? id : command)).toBe('stopped');
      expect(hint.state).toBe('stop');
      expect(hint.acceptsHints).toBe(false);
    }
  });

  it('ignores commands when no round was requested (H6d)', () => {
    const hint = new FreePageHint();
    expect(hint.command(CMD_ID_MIN)).toBe('ignored');
    expect(hint.command(CMD_ID_STOP)).toBe('ignored');
    hint.done();
    expect(hint.command(hint.cmdId)).toBe('ignored');
    expect(hint.state).toBe('done');
  });
});

describe('command id allocation (H7)', () => {
  it('skips an id the driver started and has not stopped, and issues it again after its STOP', () => {
    const hint = new FreePageHint({ idRange: { min: 2, max: 3 } });
    const a = hint.start()!;
    expect(a).toBe(3);
    hint.command(a); // the driver runs a round with 3
    hint.stop(); // the host ends it before the driver's STOP arrives
    expect(hint.start()).toBe(2);
    expect(hint.start()).toBe(2); // 3 is still the driver's
    hint.command(CMD_ID_STOP); // the driver's STOP for round 3 (ignored as a command: state is REQUESTED)
    expect(hint.state).toBe('requested');
    expect(hint.start()).toBe(3);
  });

  it('issues nothing and changes nothing while every id awaits its STOP', () => {
    const hint = new FreePageHint({ idRange: { min: 2, max: 2 } });
    expect(hint.start()).toBe(2);
    hint.command(2);
    hint.stop();
    expect(hint.start()).toBeUndefined();
    expect([hint.state, hint.cmdId, hint.configValue]).toEqual(['stop', 2, CMD_ID_STOP]);
    hint.reset(); // the driver forgets its rounds
    expect(hint.start()).toBe(2);
  });

  it('nextCommandId asks about each id of the range once, then gives up', () => {
    const asked: number[] = [];
    const range = { min: 10, max: 13 };
    expect(
      nextCommandId(11, range, (id) => {
        asked.push(id);
        return true;
      }),
    ).toBeUndefined();
    expect(asked).toEqual([12, 13, 10, 11]);
  });

  it('nextCommandId finds the one free id, even when it is the current one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 0, max: 20 }), fc.nat(), fc.nat(), (min, extra, c, f) => {
        const range = { min, max: min + extra };
        const current = min + (c % (extra + 1));
        const free = min + (f % (extra + 1));
        expect(nextCommandId(current, range, (id) => id !== free)).toBe(free);
      }),
      { numRuns: runs(200) },
    );
  });

  it('refuses an id range that holds the reserved 0 or 1, or is empty', () => {
    for (const idRange of [
      { min: 0, max: 5 },
      { min: 1, max: 5 },
      { min: 5, max: 4 },
    ]) {
      expect(() => new FreePageHint({ idRange })).toThrow(new RangeError('command ids must lie above the reserved 0 and 1'));
    }
    expect(new FreePageHint({ idRange: { min: 2, max: 2 } }).cmdId).toBe(2);
  });
});

describe('restore on a migration destination', () => {
  it('keeps a saved id inside the range, refuses one outside (never issued here), and ends in DONE', () => {
    const range = { min: 10, max: 20 };
    for (const saved of [10, 20, 15]) {
      const hint = new FreePageHint({ idRange: range });
      hint.restore({ state: 'start', cmdId: saved });
      expect([hint.cmdId, hint.state, hint.configValue]).toEqual([saved, 'done', CMD_ID_DONE]);
    }
    for (const saved of [9, 21, CMD_ID_STOP, 10.5]) {
      const hint = new FreePageHint({ idRange: range });
      expect(() => hint.restore({ state: 'start', cmdId: saved })).toThrowError(new RangeError(`command id ${saved} is outside 10..20`));
      expect([hint.cmdId, hint.state]).toEqual([10, 'stop']);
    }
  });

  it('continues counting from the restored id in the real range', () => {
    const hint = new FreePageHint();
    hint.restore({ state: 'stop', cmdId: CMD_ID_MAX });
    expect(hint.start()).toBe(CMD_ID_MIN);
  });
});
