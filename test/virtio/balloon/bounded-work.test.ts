import { describe, expect, it } from 'vitest';
import { layoutRing, type RingLayout } from '../../../src/guest/driver-queue.js';
import { MmioDriver } from '../../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../../src/memory/flat-memory.js';
import { WatchedMemory } from '../../../src/testing/watched-memory.js';
import { BalloonDevice } from '../../../src/virtio/balloon/balloon-device.js';
import { BALLOON_CHAIN_LIMITS } from '../../../src/virtio/balloon/chain-limits.js';
import type { BalloonQueueRole } from '../../../src/virtio/balloon/constants.js';
import { DescFlag, Feature, WORK_BUDGET, featureBit } from '../../../src/virtio/constants.js';
import { DEFAULT_CHAIN_LIMITS, type ChainLimits, type DescriptorChain } from '../../../src/virtio/descriptor-chain.js';
import { MmioReg, MmioTransport } from '../../../src/virtio/transport/mmio.js';

// One guest action — a kick — makes the balloon do bounded work, whatever the rings hold: each
// queue takes chains no larger than its real drivers send, aliased buffers cannot multiply the
// work, and a kick stops at the work budget and leaves the rest for the next event.

const MiB = 1 << 20;
const RAM = 32 * MiB;
const RING = 0x10000;
const TABLE = 0x100000;
const DATA = 0x400000;

/** Bytes and accesses one action may cost: the budget plus one chain's worst, four KiB per unit. */
function actionBound(limits: ChainLimits): { bytes: number; accesses: number } {
  const units = WORK_BUDGET + limits.cost;
  return { bytes: units * 4096, accesses: units * 8 };
}

interface Setup {
  watched: WatchedMemory;
  device: BalloonDevice;
  mmio: MmioTransport;
  layout: RingLayout;
  index: number;
}

function live(role: BalloonQueueRole, makeDevice = (m: WatchedMemory) => new BalloonDevice(m, { statsQueue: true, freePageHint: true, pageReporting: true })): Setup {
  const watched = new WatchedMemory(new FlatMemory(RAM));
  const device = makeDevice(watched);
  const mmio = new MmioTransport(device);
  const driver = new MmioDriver(mmio, watched);
  driver.negotiate((offered) => offered & ~featureBit(Feature.EVENT_IDX));
  const index = device.queueIndex(role)!;
  const layout = layoutRing(RING, device.queues[index]!.maxSize);
  driver.setupQueue(index, layout);
  driver.driverOk();
  return { watched, device, mmio, layout, index };
}

function writeDesc(s: Setup, at: number, gpa: number, len: number, flags: number, next: number): void {
  s.watched.writeU64(at, gpa);
  s.watched.writeU32(at + 8, len);
  s.watched.writeU16(at + 12, flags);
  s.watched.writeU16(at + 14, next);
}

/** Publish `count` chains, each head 0: an indirect table of `segments` buffers of `piece` bytes at DATA. */
function publish(s: Setup, segments: number, piece: number, flags: number, count = s.layout.size): void {
  for (let i = 0; i < segments; i++) writeDesc(s, TABLE + 16 * i, DATA, piece, flags | (i < segments - 1 ? DescFlag.NEXT : 0), i + 1);
  writeDesc(s, s.layout.descTable, TABLE, 16 * segments, DescFlag.INDIRECT, 0);
  for (let i = 0; i < count; i++) s.watched.writeU16(s.layout.availRing + 4 + 2 * i, 0);
  s.watched.writeU16(s.layout.availRing + 2, count);
}

/** Publish the largest chains `role` accepts, all over the same bytes, to the brim. */
function fillLargest(s: Setup, role: BalloonQueueRole): void {
  const { maxSegments, maxBytes } = BALLOON_CHAIN_LIMITS[role];
  const write = role === 'freePage' || role === 'reporting' ? DescFlag.WRITE : 0;
  // Distinct RAM PFNs for the inflate and deflate arrays.
  for (let i = 0; i < 1024; i++) s.watched.writeU32(DATA + 4 * i, 0x800 + i);
  publish(s, maxSegments, Math.floor(maxBytes / maxSegments), write);
}

/** What one register write cost: guest memory accesses and bytes. */
function cost(s: Setup, action: () => void): { bytes: number; accesses: number } {
  const [bytes, accesses] = [s.watched.bytes, s.watched.accesses];
  action();
  return { bytes: s.watched.bytes - bytes, accesses: s.watched.accesses - accesses };
}

const kick = (s: Setup) => (): void => s.mmio.write(MmioReg.QUEUE_NOTIFY, 4, s.index);
const usedIdx = (s: Setup): number => s.watched.readU16(s.layout.usedRing + 2);

/** Kick, then serve what is deferred until nothing is; every action within the bound. Returns the actions taken. */
function drain(s: Setup, role: BalloonQueueRole, limits = BALLOON_CHAIN_LIMITS[role]): number {
  const bound = actionBound(limits);
  let actions = 1;
  const first = cost(s, kick(s));
  expect(first.bytes, `bytes one kick touched on the ${role} queue`).toBeLessThanOrEqual(bound.bytes);
  expect(first.accesses, `memory accesses of one kick on the ${role} queue`).toBeLessThanOrEqual(bound.accesses);
  while (s.device.hasDeferredWork) {
    const next = cost(s, () => s.device.serveDeferred());
    expect(next.bytes, `bytes one deferred action touched on the ${role} queue`).toBeLessThanOrEqual(bound.bytes);
    actions++;
    expect(actions).toBeLessThan(1000);
  }
  return actions;
}

describe('one kick does bounded work', () => {
  it('refuses at once an inflate chain whose indirect table points 1024 times at the same 128 KiB', () => {
    const s = live('inflate');
    publish(s, 1024, 128 << 10, 0, 1);
    const c = cost(s, kick(s));
    expect(s.device.needsResetReason?.kind).toBe('chain-too-large');
    expect(c.bytes, 'bytes touched').toBeLessThan(64 << 10);
    expect(c.accesses, 'memory accesses').toBeLessThan(200);
  });

  it('refuses at once a stats chain of 1024 aliased buffers (the 4 GiB shape of the issue, scaled down)', () => {
    const s = live('stats');
    publish(s, 1024, 128 << 10, 0, 1);
    const c = cost(s, kick(s));
    expect(s.device.needsResetReason?.kind).toBe('chain-too-large');
    expect(c.bytes, 'bytes touched').toBeLessThan(64 << 10);
  });

  it.each(['inflate', 'deflate', 'stats', 'freePage', 'reporting'] as const)('serves a %s ring full of its largest chains within the bound per action, every chain once', (role) => {
    const s = live(role);
    fillLargest(s, role);
    if (role === 'freePage') {
      // The first entry starts a hint round (a 4-byte command chain), so the rest are hints.
      s.watched.writeU32(TABLE - 4, s.device.startHinting()!);
      writeDesc(s, s.layout.descTable + 16, TABLE - 4, 4, 0, 0);
      s.watched.writeU16(s.layout.availRing + 4, 1);
    }
    const hinted: number[] = [];
    s.device.hints$.subscribe((b) => hinted.push(b.ranges.length));
    const actions = drain(s, role);
    expect(s.device.needsResetReason).toBeUndefined();
    // Stats keep the newest buffer (§5.5.6.3); every other chain comes back.
    expect(usedIdx(s)).toBe(role === 'stats' ? s.layout.size - 1 : s.layout.size);
    if (role === 'inflate' || role === 'reporting') expect(actions, 'actions taken').toBeGreaterThan(1);
    if (role === 'freePage') expect(hinted.reduce((a, b) => a + b, 0)).toBe((s.layout.size - 1) * BALLOON_CHAIN_LIMITS.freePage.maxSegments);
  });

  it('leaves what the budget does not cover for the next kick, which goes on where the last stopped', () => {
    const s = live('inflate');
    fillLargest(s, 'inflate');
    kick(s)();
    const first = usedIdx(s);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(s.layout.size);
    expect(s.device.hasDeferredWork).toBe(true);
    kick(s)();
    expect(usedIdx(s)).toBe(2 * first);
    while (s.device.serveDeferred());
    expect(usedIdx(s)).toBe(s.layout.size);
    expect(s.device.hasDeferredWork).toBe(false);
    expect(s.device.serveDeferred()).toBe(false);
  });

  it('catches a balloon without per-queue chain limits (aliased buffers multiply the work)', () => {
    class Unlimited extends BalloonDevice {
      protected override chainLimits(): ChainLimits {
        return DEFAULT_CHAIN_LIMITS;
      }
    }
    const s = live('inflate', (m) => new Unlimited(m, { statsQueue: true, freePageHint: true, pageReporting: true }));
    // 64 buffers of 64 KiB over the same PFN array: 1 M PFNs in one chain.
    for (let i = 0; i < 1024; i++) s.watched.writeU32(DATA + 4 * i, 0x800 + i);
    publish(s, 64, 64 << 10, 0, 1);
    expect(() => drain(s, 'inflate')).toThrowError(/bytes one kick touched on the inflate queue/);
  });

  it('catches a balloon that serves a whole ring in one kick, ignoring the work budget', () => {
    class Greedy extends BalloonDevice {
      protected override nextChain(index: number): DescriptorChain | undefined {
        return this.isLive ? this.queues[index]!.pop(BALLOON_CHAIN_LIMITS.inflate) : undefined;
      }
    }
    const s = live('inflate', (m) => new Greedy(m, { statsQueue: true }));
    fillLargest(s, 'inflate');
    expect(() => drain(s, 'inflate')).toThrowError(/bytes one kick touched on the inflate queue/);
  });
});

describe('the balloon charges each chain what it cost', () => {
  /** A live balloon with big queues; chains are published but not kicked. */
  function roomy() {
    const memory = new FlatMemory(RAM);
    const device = new BalloonDevice(memory, { statsQueue: true, queueSizes: { inflate: 4096, stats: 4096 } });
    const mmio = new MmioTransport(device);
    const driver = new MmioDriver(mmio, memory);
    driver.negotiate((offered) => offered & ~featureBit(Feature.EVENT_IDX));
    const inflate = driver.setupQueue<number>(0, layoutRing(0x100000, 4096));
    const stats = driver.setupQueue<number>(2, layoutRing(0x200000, 4096));
    driver.driverOk();
    const used = (q: typeof inflate): number => memory.readU16(q.layout.usedRing + 2);
    return { memory, device, mmio, inflate, stats, used };
  }
  const fits = (actual: number, cost: number): number => {
    let served = 1;
    while (served * actual + cost <= WORK_BUDGET) served++;
    return served;
  };

  it('a one-PFN inflate chain costs its walk, its page of PFNs and one PFN', () => {
    const b = roomy();
    b.memory.writeU32(DATA, 0x800);
    for (let i = 0; i < 4096; i++) b.inflate.add([{ gpa: DATA, length: 4 }], [], i);
    b.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(b.used(b.inflate)).toBe(fits(2 + 1 + 1, BALLOON_CHAIN_LIMITS.inflate.cost));
  });

  it('a one-entry stats chain costs its walk, its page and one entry (the newest buffer is kept)', () => {
    const b = roomy();
    for (let i = 0; i < 4096; i++) b.stats.add([{ gpa: DATA, length: 10 }], [], i);
    b.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 2);
    expect(b.used(b.stats)).toBe(fits(2 + 1 + 1, BALLOON_CHAIN_LIMITS.stats.cost) - 1);
  });
});
