import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../../src/memory/flat-memory.js';
import { BalloonDevice, balloonQueueRoles, type BalloonState } from '../../../src/virtio/balloon/balloon-device.js';
import { parseBalloonState } from '../../../src/virtio/balloon/balloon-state.js';
import { BalloonConfig, BalloonFeature } from '../../../src/virtio/balloon/constants.js';
import { Status, featureBit } from '../../../src/virtio/constants.js';
import { StateError } from '../../../src/virtio/state-error.js';
import { BUF, rig, sendPfns } from './rig.js';

// The saved states a hostile peer sent (issue 18): each is refused with a StateError naming
// the field, at once, and the live device that received it goes on as it was.

const OPTIONS = { statsQueue: true, freePageHint: true } as const;
type Json = Record<string, unknown>;

/** A live balloon holding a stats buffer with two pages inflated, and its saved state as JSON. */
function saved(): { state: Json; device: BalloonDevice } {
  const r = rig(OPTIONS);
  sendPfns(r, 'inflate', [0x300, 0x301]);
  r.memory.writeU16(BUF + 512, 4);
  r.queues.stats!.add([{ gpa: BUF + 512, length: 10 }], [], 7);
  r.driver.kick(2, r.queues.stats!);
  return { state: JSON.parse(JSON.stringify(r.device.save())) as Json, device: r.device };
}

/** A live destination balloon, and `state` with `edit` applied, restored onto it. */
function refuses(edit: (state: Json & { core: Json & { queues: Json[] } }) => void, field: string, reason?: RegExp): void {
  const { state } = saved();
  edit(state as Json & { core: Json & { queues: Json[] } });
  const destination = saved().device;
  const before = JSON.stringify(destination.save());
  let error: unknown;
  const started = performance.now();
  try {
    destination.restore(state);
  } catch (e) {
    error = e;
  }
  expect(performance.now() - started, 'ms to refuse').toBeLessThan(200);
  expect(error).toBeInstanceOf(StateError);
  expect((error as StateError).field).toBe(field);
  if (reason) expect((error as StateError).reason).toMatch(reason);
  expect(JSON.stringify(destination.save()), 'the destination changed').toBe(before);
  expect(destination.isLive).toBe(true);
}

describe('a saved balloon is checked whole before anything changes', () => {
  it('restores what it saved', () => {
    const { state } = saved();
    const twin = new BalloonDevice(new FlatMemory(16 << 20), OPTIONS);
    twin.restore(state);
    expect([twin.inflatedPages, twin.isLive, twin.status & Status.DRIVER_OK]).toEqual([2, true, Status.DRIVER_OK]);
  });

  it('refuses inflated runs past RAM at once, whatever their length (1e300 pages, 1e9 pages)', () => {
    refuses((s) => (s['inflated'] = [[0, 1e300]]), 'inflated[0][1]');
    refuses((s) => (s['inflated'] = [[0, 1e9]]), 'inflated[0][1]');
    refuses((s) => (s['inflated'] = [[1e9, 1]]), 'inflated[0][0]');
  });

  it('refuses overlapping, unsorted, empty or malformed runs, and runs over holes in RAM', () => {
    refuses(
      (s) =>
        (s['inflated'] = [
          [5, 2],
          [6, 1],
        ]),
      'inflated[1][0]',
    );
    refuses((s) => (s['inflated'] = [[0, 0]]), 'inflated[0][1]');
    refuses((s) => (s['inflated'] = [[0]]), 'inflated[0]');
    refuses((s) => (s['inflated'] = [[0, 1, 2]]), 'inflated[0]');
    refuses((s) => (s['inflated'] = 'all'), 'inflated');
    refuses((s) => (s['inflated'] = Array.from({ length: 5000 }, (_, i) => [i, 1])), 'inflated', /more than 4096/);
  });

  it('refuses driver features that are not hex, or that the device never offered, without a reset', () => {
    refuses((s) => (s.core['driverFeatures'] = 'zz'), 'core.driverFeatures');
    refuses((s) => (s.core['driverFeatures'] = 'f'.repeat(100_000)), 'core.driverFeatures');
    refuses((s) => (s.core['driverFeatures'] = (featureBit(BalloonFeature.PAGE_REPORTING) | BigInt(`0x${s.core['driverFeatures'] as string}`)).toString(16)), 'core.driverFeatures', /not a set this device accepts/);
  });

  it('refuses a held stats buffer that is no head of the stats queue', () => {
    refuses((s) => (s['statsHead'] = -1), 'statsHead');
    refuses((s) => (s['statsHead'] = 32), 'statsHead');
    refuses((s) => (s['statsHead'] = 0.5), 'statsHead');
  });

  it('refuses interrupt bits that are not used-buffer and config', () => {
    refuses((s) => (s.core['interruptStatus'] = 0xffffffff), 'core.interruptStatus');
    refuses((s) => (s.core['interruptStatus'] = 4), 'core.interruptStatus');
  });

  it('names a missing queue address instead of failing inside', () => {
    refuses((s) => delete s.core.queues[0]!['descTable'], 'core.queues[0].descTable');
    refuses((s) => (s.core.queues[1]!['usedRing'] = '0x1000'), 'core.queues[1].usedRing');
    refuses((s) => (s.core.queues[1]!['layout'] = 'packed'), 'core.queues[1].layout');
  });

  it('refuses another format or version, and NEEDS_RESET without a reason', () => {
    refuses((s) => (s['version'] = 2), 'version', /not a supported version/);
    refuses((s) => (s['format'] = 'net'), 'format');
    refuses((s) => (s.core['status'] = (s.core['status'] as number) | Status.DEVICE_NEEDS_RESET), 'core.needsReset');
    refuses((s) => (s.core['needsReset'] = { kind: 'internal', message: 'x' }), 'core.needsReset');
    refuses((s) => (s.core['status'] = Status.DRIVER_OK), 'core.status');
  });

  it('refuses a hint round on a device that cannot hint, and an id the machine never issues', () => {
    refuses((s) => (s['hint'] = { state: 'start', cmdId: 1 }), 'hint.cmdId');
    refuses((s) => (s['hint'] = { state: 'running', cmdId: 0x80000001 }), 'hint.state');
    const noHints = (s: Json & { core: Json }): void => {
      s.core['driverFeatures'] = (BigInt(`0x${s.core['driverFeatures'] as string}`) & ~featureBit(BalloonFeature.FREE_PAGE_HINT)).toString(16);
      s.core['queues'] = (s.core['queues'] as Json[]).slice(0, 3);
      s['hint'] = { state: 'start', cmdId: 0x80000001 };
    };
    refuses(noHints, 'hint.state');
  });

  it('refuses a poison value on a device that does not offer PAGE_POISON', () => {
    refuses((s) => (s['poisonVal'] = 0xaa), 'poisonVal');
    const r = rig({ pagePoison: true }, { live: false });
    r.driver.writeConfig32(BalloonConfig.POISON_VAL, 0xaa);
    const twin = new BalloonDevice(r.memory, { pagePoison: true });
    twin.restore(JSON.parse(JSON.stringify(r.device.save())));
    expect(twin.poisonVal).toBe(0xaa);
  });

  it('puts a live device whose ready queue is not in this RAM in NEEDS_RESET (ring-out-of-range)', () => {
    const { state } = saved();
    const small = new BalloonDevice(new FlatMemory(64 << 10), OPTIONS);
    (state['inflated'] as unknown[]).length = 0;
    small.restore(state);
    expect(small.needsResetReason?.kind).toBe('ring-out-of-range');
  });
});

describe('restore costs what the RAM holds, not what the state says', () => {
  it('inflates a whole guest of runs in one pass', () => {
    const { state } = saved();
    const pages = (16 << 20) / 4096;
    const twin = new BalloonDevice(new FlatMemory(16 << 20), OPTIONS);
    (state as unknown as BalloonState & { inflated: Array<[number, number]> }).inflated = [[0, pages]];
    twin.restore(state);
    expect(twin.inflatedPages).toBe(pages);
  });
});

describe('the balloon state rules at their edges', () => {
  const restoreOnto = (state: Json, device = saved().device): BalloonDevice => {
    device.restore(state);
    return device;
  };
  const pages = (16 << 20) / 4096;

  it('takes inflated runs up to the last page, adjacent runs, and none on a device that never went live', () => {
    const { state } = saved();
    expect(restoreOnto({ ...state, inflated: [[pages - 1, 1]] }).isInflated(pages - 1)).toBe(true);
    expect(
      restoreOnto({
        ...state,
        inflated: [
          [0, 1],
          [1, 1],
        ],
      }).inflatedPages,
    ).toBe(2);
    refuses((s) => (s['inflated'] = [[pages - 1, 2]]), 'inflated[0][1]');
    refuses((s) => (s['inflated'] = [[pages, 1]]), 'inflated[0][0]');
    refuses((s) => (s['inflated'] = [[-1, 1]]), 'inflated[0][0]');
    const r = rig(OPTIONS, { live: false });
    const idle = JSON.parse(JSON.stringify(r.device.save())) as Json;
    expect(() => new BalloonDevice(r.memory, OPTIONS).restore({ ...idle, inflated: [[0, 1]] })).toThrowError(
      expect.objectContaining({ field: 'inflated', reason: expect.stringMatching(/never went live/) as string }) as Error,
    );
  });

  it('refuses inflated pages over a hole in RAM', () => {
    const holed = new FlatMemory([
      { gpa: 0, size: 16 << 20 },
      { gpa: 32 << 20, size: 16 << 20 },
    ]);
    const r = rig(OPTIONS, { memory: holed });
    const state = JSON.parse(JSON.stringify(r.device.save())) as Json;
    const twin = new BalloonDevice(holed, OPTIONS);
    expect(() => twin.restore({ ...state, inflated: [[pages - 1, 2]] })).toThrowError(expect.objectContaining({ field: 'inflated[0]', reason: expect.stringMatching(/not all RAM/) as string }) as Error);
    twin.restore({
      ...state,
      inflated: [
        [pages - 1, 1],
        [2 * pages, 1],
      ],
    });
    expect(twin.inflatedPages).toBe(2);
  });

  it('takes a held stats buffer up to the last head, on the ready stats queue of a device that went live', () => {
    const { state } = saved();
    expect(restoreOnto({ ...state, statsHead: 31 }).requestStats()).toBe(true);
    refuses((s) => (s['statsHead'] = 32), 'statsHead');
    refuses((s) => ((s as { core: { queues: Json[] } }).core.queues[2]!['ready'] = false), 'statsHead', /ready stats queue/);
  });

  it('takes a hint round only on a live device that negotiated hinting, with ids of its range', () => {
    const { state } = saved();
    expect(restoreOnto({ ...state, hint: { state: 'requested', cmdId: 0xffffffff } }).hintCmdId).toBe(0xffffffff);
    expect(restoreOnto({ ...state, hint: { state: 'start', cmdId: 0x80000000 } }).hintState).toBe('done');
    refuses((s) => (s['hint'] = { state: 'stop', cmdId: 0x7fffffff }), 'hint.cmdId');
    refuses((s) => (s['hint'] = { state: 'stop', cmdId: 2 ** 32 }), 'hint.cmdId');
    const r = rig(OPTIONS, { live: false });
    const idle = JSON.parse(JSON.stringify(r.device.save())) as Json;
    expect(() => new BalloonDevice(r.memory, OPTIONS).restore({ ...idle, hint: { state: 'requested', cmdId: 0x80000001 } })).toThrowError(expect.objectContaining({ field: 'hint.state' }) as Error);
    expect(new BalloonDevice(r.memory, OPTIONS).restore({ ...idle, hint: { state: 'done', cmdId: 0x80000001 } })).toBeUndefined();
  });

  it('takes u32 config values', () => {
    const { state } = saved();
    const twin = restoreOnto({ ...state, numPages: 0xffffffff, actual: 0xffffffff });
    expect([twin.target, twin.actual]).toEqual([0xffffffff, 0xffffffff]);
    refuses((s) => (s['numPages'] = 2 ** 32), 'numPages');
    refuses((s) => (s['actual'] = -1), 'actual');
    refuses((s) => (s['poisonVal'] = 2 ** 32), 'poisonVal');
  });
});

describe('balloon state rules that hang on the features in force', () => {
  it('a hint round needs FREE_PAGE_HINT accepted at FEATURES_OK, not merely written by the driver', () => {
    const r = rig(OPTIONS, { live: false, accept: { statsQueue: true } });
    // The driver wrote FREE_PAGE_HINT, its FEATURES_OK was refused, and it set DRIVER_OK anyway:
    // a device in NEEDS_RESET that went live without features in force.
    const state = JSON.parse(JSON.stringify(r.device.save())) as Json & { core: Json };
    const refusedFok = {
      ...state,
      core: {
        ...state.core,
        status: Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET,
        needsReset: { kind: 'bad-status-transition', message: 'DRIVER_OK set before FEATURES_OK' },
        driverFeatures: (BigInt(`0x${state.core['driverFeatures'] as string}`) | featureBit(BalloonFeature.FREE_PAGE_HINT)).toString(16),
        queues: (state.core['queues'] as Json[]).concat([{ ...(state.core['queues'] as Json[])[0]!, ready: false }]),
      },
    };
    expect(() => new BalloonDevice(r.memory, OPTIONS).restore({ ...refusedFok, hint: { state: 'done', cmdId: 0x80000000 } })).not.toThrow();
    expect(() => new BalloonDevice(r.memory, OPTIONS).restore({ ...refusedFok, hint: { state: 'requested', cmdId: 0x80000001 } })).toThrowError(expect.objectContaining({ field: 'hint.state' }) as Error);
  });

  it('a held stats buffer needs the stats queue negotiated', () => {
    const r = rig({ freePageHint: true });
    const state = JSON.parse(JSON.stringify(r.device.save())) as Json;
    expect(() => new BalloonDevice(r.memory, { freePageHint: true }).restore({ ...state, statsHead: 0 })).toThrowError(
      expect.objectContaining({ field: 'statsHead', reason: expect.stringMatching(/negotiated, ready stats queue/) as string }) as Error,
    );
  });

  it('refuses a run that is not a pair, naming it', () => {
    refuses((s) => (s['inflated'] = [[3]]), 'inflated[0]', /not a \[first, count\] pair/);
  });
});

describe('balloon state messages and shape', () => {
  it('names the whole state, the hint, and says what is wrong', () => {
    const device = saved().device;
    expect(() => device.restore('a balloon')).toThrowError(expect.objectContaining({ field: 'state' }) as Error);
    refuses((s) => (s['hint'] = 'done'), 'hint', /is not an object/);
    refuses((s) => (s['poisonVal'] = 1), 'poisonVal', /^set on a device that does not offer PAGE_POISON$/);
    const r = rig({ statsQueue: true });
    const state = JSON.parse(JSON.stringify(r.device.save())) as Json;
    expect(() => new BalloonDevice(r.memory, { statsQueue: true }).restore({ ...state, hint: { state: 'start', cmdId: 0x80000001 } })).toThrowError(
      /^hint\.state: start on a device that is not hinting \(FREE_PAGE_HINT not negotiated, or never live\)$/,
    );
  });

  it('says which pages of a run are not RAM', () => {
    const holed = new FlatMemory([
      { gpa: 0, size: 16 << 20 },
      { gpa: 32 << 20, size: 16 << 20 },
    ]);
    const r = rig(OPTIONS, { memory: holed });
    const state = JSON.parse(JSON.stringify(r.device.save())) as Json;
    expect(() => new BalloonDevice(holed, OPTIONS).restore({ ...state, inflated: [[4000, 200]] })).toThrowError(/^inflated\[0\]: pages 4000\.\.4199 are not all RAM$/);
  });

  it('checks a state without changing it: what it returns is the state itself', () => {
    const { state } = saved();
    const device = saved().device;
    const parsed = parseBalloonState(state, {
      memory: device.memory,
      offered: device.offeredFeatures,
      idRange: { min: 0x80000000, max: 0xffffffff },
      parseCore: (value) => value as BalloonState['core'],
      queueRoles: balloonQueueRoles,
    });
    expect(parsed).toEqual(state);
  });
});
