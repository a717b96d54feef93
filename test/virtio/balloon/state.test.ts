import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GuestMemory } from '../../../src/memory/guest-memory.js';
import { BalloonDevice, balloonQueueRoles, type BalloonState } from '../../../src/virtio/balloon/balloon-device.js';
import { CMD_ID_MAX, CMD_ID_MIN } from '../../../src/virtio/balloon/free-page-hint.js';
import { Feature, Interrupt, Status, featureBit } from '../../../src/virtio/constants.js';
import { isValidQueueSize, ringSizes, SplitQueue, type SplitQueueState } from '../../../src/virtio/split-queue.js';
import { StateError } from '../../../src/virtio/state-error.js';
import { ALL_BALLOON, RAM, reach, session } from '../../support/reachable-balloon.js';
import { runs } from '../../support/runs.js';

// A saved balloon comes from a peer (a migration stream with a valid checksum) or a file: its
// restore checks the whole state before it changes anything, accepts only states the device
// could have reached, and costs no more than the destination's RAM, whatever the numbers say.

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
type Json = Record<string, unknown>;

/** What save() gives after restoring `saved`: DONE for the guest, with its config change. */
function afterRestore(saved: BalloonState): BalloonState {
  const live = (saved.core.status & Status.DRIVER_OK) !== 0;
  return {
    ...saved,
    hint: { ...saved.hint, state: 'done' },
    core: { ...saved.core, configGeneration: (saved.core.configGeneration + 1) >>> 0, interruptStatus: live ? saved.core.interruptStatus | Interrupt.CONFIG_CHANGE : saved.core.interruptStatus },
  };
}

function roundTrip(makeDevice: (m: GuestMemory) => BalloonDevice): fc.IProperty<[Parameters<typeof reach>[0]]> {
  return fc.property(session, (s) => {
    const { memory, device } = reach(s, makeDevice);
    const saved = clone(device.save());
    const twin = makeDevice(memory);
    twin.restore(saved);
    const differ = differences(clone(twin.save()), afterRestore(saved));
    if (differ.length > 0) throw new Error(`fields that differ in the state saved again after a restore: ${differ.join(', ')}`);
  });
}

/** The paths at which two JSON values differ. */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Object.is(a, b) ? [] : [path || '(top)'];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => differences((a as Json)[k], (b as Json)[k], Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k));
}

/**
 * What any state a balloon reached satisfies, checked on a restored device from the outside
 * (independently of the restore's own checks). Returns the broken rules.
 */
function unreachable(device: BalloonDevice, memory: GuestMemory): string[] {
  const found: string[] = [];
  const s = device.save();
  const status = device.status;
  if (status !== (status & 0xff)) found.push(`status 0x${status.toString(16)} is not a byte`);
  if (status & Status.DRIVER_OK && !(status & Status.FEATURES_OK) && !(status & Status.DEVICE_NEEDS_RESET)) found.push('DRIVER_OK without FEATURES_OK');
  if (status & Status.FEATURES_OK) {
    const n = device.negotiatedFeatures;
    if ((n & ~device.offeredFeatures) !== 0n) found.push(`negotiated 0x${n.toString(16)} was never offered`);
    if ((n & featureBit(Feature.VERSION_1)) === 0n) found.push('negotiated without VERSION_1');
  }
  if (((status & Status.DEVICE_NEEDS_RESET) !== 0) !== (device.needsResetReason !== undefined)) found.push('NEEDS_RESET and its reason disagree');
  if (device.interruptStatus !== (device.interruptStatus & 3)) found.push(`interruptStatus 0x${device.interruptStatus.toString(16)} has bits other than used-buffer and config`);
  const roles = balloonQueueRoles(status & Status.FEATURES_OK ? device.negotiatedFeatures : device.offeredFeatures);
  if (device.queues.length !== roles.length) found.push(`${device.queues.length} queues for ${roles.length} roles`);
  const stats = device.queues[roles.indexOf('stats')];
  if (s.statsHead !== undefined && !(stats?.ready && Number.isInteger(s.statsHead) && s.statsHead >= 0 && s.statsHead < stats.size)) found.push(`stats head ${s.statsHead} is not a head of the ready stats queue`);
  if (device.inflatedPages > RAM / 4096) found.push(`${device.inflatedPages} pages inflated in a guest of ${RAM / 4096}`);
  for (const [first, count] of s.inflated) if (!memory.contains(first * 4096, count * 4096)) found.push(`inflated pages ${first}+${count} are not RAM`);
  if (device.hintCmdId < CMD_ID_MIN || device.hintCmdId > CMD_ID_MAX) found.push(`command id ${device.hintCmdId}`);
  if (device.isLive) {
    device.queues.forEach((q, i) => {
      if (!q.ready) return;
      const areas: Array<[number, number, number]> = [
        [q.descTable, ringSizes(q.size).desc, 16],
        [q.availRing, ringSizes(q.size).avail, 2],
        [q.usedRing, ringSizes(q.size).used, 4],
      ];
      if (!isValidQueueSize(q.size, q.maxSize) || areas.some(([gpa, len, align]) => gpa % align !== 0 || !memory.contains(gpa, len))) found.push(`live with queue ${i} ready in a bad layout`);
    });
  }
  if (device.needsResetReason?.kind === 'internal') found.push(`internal error: ${device.needsResetReason.message}`);
  return found;
}

/** A path in a saved state, and what happens there. */
interface Mutation {
  readonly pick: number;
  readonly action: 'set' | 'delete';
  readonly value: unknown;
  /** A field to aim at instead of a random one. */
  readonly target: readonly string[] | undefined;
}

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    -1,
    0,
    1,
    3,
    7,
    0xff,
    0xffff,
    0x1_0000,
    0xffffffff,
    2 ** 32,
    2 ** 53,
    1e300,
    0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    'zz',
    '',
    'split',
    'packed',
    'done',
    'start',
    null,
    true,
    false,
    [],
    {},
    [[0, 1e300]],
    [[0, 1e9]],
    [
      [1, 1],
      [0, 1],
    ],
    [
      [0, 2],
      [1, 1],
    ],
  ),
  fc.integer({ min: -10, max: 0x10000 }),
  fc.string({ maxLength: 6 }),
  fc.jsonValue({ maxDepth: 2 }),
);

const mutation: fc.Arbitrary<Mutation> = fc.record({
  pick: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  action: fc.constantFrom('set' as const, 'set' as const, 'delete' as const),
  value: oddValue,
  target: fc.option(
    fc.constantFrom(
      ['statsHead'],
      ['inflated'],
      ['poisonVal'],
      ['hint', 'state'],
      ['hint', 'cmdId'],
      ['core', 'status'],
      ['core', 'interruptStatus'],
      ['core', 'driverFeatures'],
      ['core', 'pendingKicks'],
      ['core', 'needsReset'],
      ['core', 'queues', '0', 'size'],
      ['core', 'queues', '2', 'descTable'],
      ['version'],
      ['format'],
    ),
    { nil: undefined },
  ),
});

/** Every path to a value in a JSON tree. */
function paths(node: unknown, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  if (typeof node === 'object' && node !== null) for (const [k, v] of Object.entries(node)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  return out;
}

function mutate(state: Json, m: Mutation): void {
  const all = paths(state);
  const path = m.target ?? all[Math.floor(m.pick * all.length)] ?? ['version'];
  let node: Json = state;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) return;
    node = node[key] as Json;
  }
  const last = path[path.length - 1]!;
  if (m.action === 'delete') delete node[last];
  else node[last] = m.value;
}

function mutatedStates(makeDevice: (m: GuestMemory) => BalloonDevice): fc.IProperty<[Parameters<typeof reach>[0], Parameters<typeof reach>[0], Mutation]> {
  return fc.property(session, session, mutation, (source, destination, m) => {
    const saved = clone(reach(source).device.save()) as unknown as Json;
    mutate(saved, m);
    const { device, memory } = reach(destination, makeDevice);
    const before = clone(device.save());
    const events: unknown[] = [];
    device.interrupt$.subscribe((e) => events.push(e));
    device.errors$.subscribe((e) => events.push(e));
    let error: unknown;
    try {
      device.restore(saved);
    } catch (e) {
      error = e;
    }
    if (error !== undefined) {
      expect(error, 'restore threw something other than a StateError').toBeInstanceOf(StateError);
      expect(clone(device.save()), 'a refused state changed the device').toEqual(before);
      expect(events, 'a refused state raised events').toEqual([]);
      return;
    }
    const broken = unreachable(device, memory);
    if (broken.length > 0) throw new Error(`an accepted state breaks what every reachable state keeps: ${broken.join('; ')}`);
  });
}

describe('balloon state: round trip', () => {
  it('restores every state a balloon can reach, and saves it again the same (DONE aside)', () => {
    fc.assert(
      roundTrip((m) => new BalloonDevice(m, ALL_BALLOON)),
      { numRuns: runs(300) },
    );
  });

  it('catches a queue restore that forgets the used index', () => {
    class ForgetfulQueue extends SplitQueue {
      override restore(state: SplitQueueState): void {
        super.restore({ ...state, nextUsed: 0 });
      }
    }
    class Forgetful extends BalloonDevice {
      protected override newQueue(maxSize: number): SplitQueue {
        return new ForgetfulQueue(this.memory, maxSize);
      }
    }
    const result = fc.check(
      roundTrip((m) => new Forgetful(m, ALL_BALLOON)),
      { numRuns: 300, seed: 3 },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/fields that differ in the state saved again after a restore: core\.queues\[\d\]\.nextUsed/);
  });
});

describe('balloon state: any mutation', () => {
  it('is refused whole with a StateError (the device unchanged), or is a state the device could reach', () => {
    fc.assert(
      mutatedStates((m) => new BalloonDevice(m, ALL_BALLOON)),
      { numRuns: runs(400) },
    );
  });

  it('catches a restore that does not check the held stats buffer', () => {
    class Trusting extends BalloonDevice {
      protected override parseState(state: unknown): BalloonState {
        const { statsHead, ...rest } = state as BalloonState;
        return { ...super.parseState(rest), statsHead } as BalloonState;
      }
    }
    const result = fc.check(
      mutatedStates((m) => new Trusting(m, ALL_BALLOON)),
      { numRuns: 400, seed: 4 },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/stats head .* is not a head of the ready stats queue/);
  });

  it('catches a restore that does not check the interrupt status', () => {
    class Trusting extends BalloonDevice {
      protected override parseState(state: unknown): BalloonState {
        const saved = state as BalloonState;
        const parsed = super.parseState({ ...saved, core: { ...saved.core, interruptStatus: 0 } });
        return { ...parsed, core: { ...parsed.core, interruptStatus: saved.core.interruptStatus } };
      }
    }
    const result = fc.check(
      mutatedStates((m) => new Trusting(m, ALL_BALLOON)),
      { numRuns: 400, seed: 5 },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/interruptStatus .* has bits other than used-buffer and config/);
  });
});
