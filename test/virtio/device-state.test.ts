import { describe, expect, it } from 'vitest';
import { Status } from '../../src/virtio/constants.js';
import { parseDeviceState, type DeviceStateRules, type VirtioDeviceState } from '../../src/virtio/device-state.js';
import { parseQueueState, type QueueState } from '../../src/virtio/queue-state.js';
import type { SplitQueueState } from '../../src/virtio/split-queue.js';
import { StateError } from '../../src/virtio/state-error.js';

// The device core's saved state, rule by rule, on a device that offers bits 0 and 32 and has a
// third queue only under bit 0; a set is acceptable when it is offered and has bit 32.

const OFFERED = (1n << 32n) | 1n;
const rules: DeviceStateRules = {
  offered: OFFERED,
  acceptable: (f) => (f & ~OFFERED) === 0n && (f & (1n << 32n)) !== 0n,
  queueSizes: (f) => ((f & 1n) !== 0n ? [8, 8, 4] : [8, 8]),
};
const LIVE = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK;

const queue = (extra: Partial<SplitQueueState> = {}): SplitQueueState => ({ layout: 'split', size: 8, ready: false, descTable: 0, availRing: 0, usedRing: 0, nextAvail: 0, nextUsed: 0, ...extra });
const ready = queue({ ready: true, descTable: 0x1000, availRing: 0x1080, usedRing: 0x10a0 });

function state(extra: Record<string, unknown> = {}): VirtioDeviceState {
  return {
    format: 'virtio-device',
    version: 1,
    status: LIVE,
    driverFeatures: '100000001',
    interruptStatus: 0,
    configGeneration: 0,
    queues: [ready, queue(), queue({ size: 4 })],
    pendingKicks: [],
    ...extra,
  } as VirtioDeviceState;
}

function refused(value: unknown, field: string, reason?: RegExp): void {
  let error: unknown;
  try {
    parseDeviceState(value, 'core', rules);
  } catch (e) {
    error = e;
  }
  expect(error, field).toBeInstanceOf(StateError);
  expect((error as StateError).field).toBe(field);
  if (reason) expect((error as StateError).reason).toMatch(reason);
}

describe('the device core state', () => {
  it('accepts a live device, and normalises the feature digits', () => {
    expect(parseDeviceState(state(), 'core', rules)).toEqual(state());
    expect(parseDeviceState(state({ driverFeatures: '0100000001' }), 'core', rules).driverFeatures).toBe('100000001');
  });

  it('takes any status byte, but DRIVER_OK without FEATURES_OK only with NEEDS_RESET', () => {
    expect(parseDeviceState(state({ status: 0xff & ~Status.DEVICE_NEEDS_RESET }), 'core', rules).status).toBe(0xbf);
    refused(state({ status: 0x100 }), 'core.status');
    refused(state({ status: Status.DRIVER_OK, queues: [queue(), queue()] }), 'core.status', /DRIVER_OK without FEATURES_OK/);
    const failed = state({ status: Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET, queues: [queue(), queue(), queue({ size: 4 })], needsReset: { kind: 'bad-status-transition', message: 'm' } });
    expect(parseDeviceState(failed, 'core', rules).needsReset).toEqual({ kind: 'bad-status-transition', message: 'm' });
  });

  it('checks the driver features only once FEATURES_OK holds', () => {
    refused(state({ driverFeatures: '1' }), 'core.driverFeatures', /not a set this device accepts \(offered 0x100000001\)/);
    refused(state({ driverFeatures: '300000001' }), 'core.driverFeatures');
    const before = state({ status: Status.ACKNOWLEDGE | Status.DRIVER, driverFeatures: 'ffffffffffffffffffffffffffffffff' });
    expect(parseDeviceState(before, 'core', rules).driverFeatures).toBe('f'.repeat(32));
  });

  it("makes the queues of the features in force: the driver's after FEATURES_OK, the offered ones before", () => {
    refused(state({ queues: [ready, queue()] }), 'core.queues', /has 2 queues, the features in force make 3/);
    refused(state({ queues: [ready, queue(), queue(), queue()] }), 'core.queues', /more than 3/);
    const two = state({ driverFeatures: '100000000', queues: [ready, queue()] });
    expect(parseDeviceState(two, 'core', rules).queues).toHaveLength(2);
    const early = state({ status: Status.ACKNOWLEDGE, driverFeatures: '0', queues: [queue(), queue(), queue()] });
    expect(parseDeviceState(early, 'core', rules).queues).toHaveLength(3);
  });

  it('takes interrupt bits 0 to 3, and only from a device that went live', () => {
    expect(parseDeviceState(state({ interruptStatus: 3 }), 'core', rules).interruptStatus).toBe(3);
    refused(state({ interruptStatus: 4 }), 'core.interruptStatus');
    refused(state({ status: Status.FEATURES_OK, interruptStatus: 1 }), 'core.interruptStatus', /never went live/);
    expect(parseDeviceState(state({ configGeneration: 0xffffffff }), 'core', rules).configGeneration).toBe(0xffffffff);
    refused(state({ configGeneration: -1 }), 'core.configGeneration');
  });

  it('takes pending kicks of existing queues, each once', () => {
    expect(parseDeviceState(state({ pendingKicks: [2, 0] }), 'core', rules).pendingKicks).toEqual([2, 0]);
    refused(state({ pendingKicks: [3] }), 'core.pendingKicks[0]');
    refused(state({ pendingKicks: [1, 1] }), 'core.pendingKicks', /names a queue twice/);
    refused(state({ pendingKicks: [0, 1, 2, 0] }), 'core.pendingKicks', /more than 3/);
  });

  it('has a reason exactly when NEEDS_RESET is set, of a known kind and a line long', () => {
    const nr = (needsReset: unknown): VirtioDeviceState => state({ status: LIVE | Status.DEVICE_NEEDS_RESET, needsReset });
    expect(parseDeviceState(nr({ kind: 'internal', message: 'x'.repeat(1024) }), 'core', rules).needsReset?.kind).toBe('internal');
    refused(nr(undefined), 'core.needsReset', /missing for a device in NEEDS_RESET/);
    refused(state({ needsReset: { kind: 'internal', message: '' } }), 'core.needsReset', /given for a device not in NEEDS_RESET/);
    refused(nr({ kind: 'bogus', message: '' }), 'core.needsReset.kind');
    refused(nr({ kind: 'internal', message: 'x'.repeat(1025) }), 'core.needsReset.message');
    refused(nr('internal'), 'core.needsReset');
  });

  it('refuses another format, another version, and anything that is not an object', () => {
    refused(state({ format: 'virtio-mmio' }), 'core.format');
    refused(state({ version: 2 }), 'core.version');
    refused([state()], 'core');
  });
});

describe('a saved split queue', () => {
  const parse = (q: unknown, live = true, maxSize = 8): QueueState => parseQueueState(q, 'q', { maxSize, live, packed: false });
  const refusedQueue = (q: unknown, field: string, live = true): void => {
    expect(() => parse(q, live)).toThrowError(expect.objectContaining({ name: 'StateError', field }) as Error);
  };

  it('holds whatever a driver wrote while it is not ready, up to the largest address it can write', () => {
    expect(parse(queue({ size: 0xffffffff, descTable: 2 ** 53 + 2 ** 32, availRing: 1, usedRing: 3 }))).toEqual(queue({ size: 0xffffffff, descTable: 2 ** 53 + 2 ** 32, availRing: 1, usedRing: 3 }));
    refusedQueue(queue({ descTable: 2 ** 53 + 2 ** 32 + 4096 }), 'q.descTable');
    refusedQueue(queue({ usedRing: -16 }), 'q.usedRing');
    refusedQueue(queue({ availRing: 0.5 }), 'q.availRing');
    refusedQueue(queue({ size: -1 }), 'q.size');
    refusedQueue(queue({ nextAvail: 0x10000 }), 'q.nextAvail');
    refusedQueue(queue({ nextUsed: -1 }), 'q.nextUsed');
    refusedQueue({ ...queue(), ready: 1 }, 'q.ready');
    refusedQueue({ ...queue(), layout: 'packed' }, 'q.layout');
  });

  it('is a power of two up to QueueNumMax, with aligned areas, when ready on a live device', () => {
    expect(parse(ready).size).toBe(8);
    expect(parse({ ...ready, size: 1 }).size).toBe(1);
    expect(() => parse({ ...ready, size: 16 })).toThrowError(/^q\.size: a ready queue of a live device has size 16, not a power of two up to 8$/);
    expect(() => parse({ ...ready, usedRing: 0x10a2 })).toThrowError(/^q\.usedRing: a ready queue of a live device has this area at 0x10a2, not 4-byte aligned$/);
    refusedQueue({ ...ready, size: 6 }, 'q.size');
    refusedQueue({ ...ready, size: 0 }, 'q.size');
    refusedQueue({ ...ready, descTable: 0x1008 }, 'q.descTable');
    refusedQueue({ ...ready, availRing: 0x1081 }, 'q.availRing');
    refusedQueue({ ...ready, usedRing: 0x10a2 }, 'q.usedRing');
    expect(parse({ ...ready, availRing: 0x1082, usedRing: 0x10a4 })).toMatchObject({ usedRing: 0x10a4 });
    // Not live (before DRIVER_OK, or in NEEDS_RESET): activate() has not checked it yet.
    expect(parse({ ...ready, size: 6, descTable: 0x1008 }, false).size).toBe(6);
  });
});
