import { describe, expect, it } from 'vitest';
import { MmioDriver } from '../../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../../src/memory/flat-memory.js';
import { SparseMemory } from '../../../src/memory/sparse-memory.js';
import { BalloonDevice, type BalloonOptions, type BalloonQueueRole, type BalloonStats } from '../../../src/virtio/balloon/balloon-device.js';
import { BalloonConfig } from '../../../src/virtio/balloon/constants.js';
import { Feature, Status, featureBit } from '../../../src/virtio/constants.js';
import type { InterruptEvent } from '../../../src/virtio/device.js';
import { MmioReg, MmioTransport } from '../../../src/virtio/transport/mmio.js';
import { BUF, rig, sendPfns, type Rig } from './rig.js';

// The balloon's rules from virtio 1.2 §5.5 (and QEMU where the spec leaves room), one test each,
// driven as a guest would: registers, rings in guest memory, nothing else.

const MiB = 1 << 20;

const index = (r: Rig, role: BalloonQueueRole): number => r.device.queueIndex(role)!;

describe('features and config (§5.5.3, §5.5.4)', () => {
  it('is device 5 and offers each feature only when asked, VERSION_1 always', () => {
    const r = rig({}, { live: false });
    expect(r.mmio.read(MmioReg.DEVICE_ID, 4)).toBe(5);
    const cases: Array<[BalloonOptions, number]> = [
      [{ mustTellHost: true }, 0],
      [{ statsQueue: true }, 1],
      [{ deflateOnOom: true }, 2],
      [{ freePageHint: true }, 3],
      [{ pagePoison: true }, 4],
      [{ pageReporting: true }, 5],
    ];
    for (const [options, bit] of cases) {
      const d = new BalloonDevice(new FlatMemory(MiB), { ...options, eventIdx: false, indirectDesc: false });
      expect(d.offeredFeatures).toBe(featureBit(bit) | featureBit(Feature.VERSION_1));
    }
    expect(new BalloonDevice(new FlatMemory(MiB)).offeredFeatures).toBe(featureBit(Feature.VERSION_1) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC));
  });

  it('sizes its config like QEMU: 8 bytes, 12 with hinting, 16 with poison', () => {
    expect(new BalloonDevice(new FlatMemory(MiB)).configSize).toBe(8);
    expect(new BalloonDevice(new FlatMemory(MiB), { freePageHint: true }).configSize).toBe(12);
    expect(new BalloonDevice(new FlatMemory(MiB), { pagePoison: true }).configSize).toBe(16);
    const r = rig({ freePageHint: true });
    expect(r.mmio.read(MmioReg.CONFIG + 12, 4)).toBe(0);
  });

  it('publishes a new target as a config change, with a config interrupt once live', () => {
    const early = rig({}, { live: false });
    early.device.setTarget(10);
    expect(early.driver.readConfig32(BalloonConfig.NUM_PAGES)).toBe(10);
    expect(early.interrupts).toEqual([]);
    const r = rig({});
    const gen = r.mmio.read(MmioReg.CONFIG_GENERATION, 4);
    r.device.setTarget(300);
    expect(r.driver.readConfig32(BalloonConfig.NUM_PAGES)).toBe(300);
    expect(r.mmio.read(MmioReg.CONFIG_GENERATION, 4)).toBe(gen + 1);
    expect(r.interrupts).toEqual([{ kind: 'config' }]);
  });

  it('lets the driver write only actual; poison_val only before DRIVER_OK', () => {
    const r = rig({ pagePoison: true, freePageHint: true }, { live: false });
    const actual: number[] = [];
    r.device.actual$.subscribe((a) => actual.push(a));
    r.driver.writeConfig32(BalloonConfig.POISON_VAL, 0xaaaaaaaa);
    r.driver.driverOk();
    r.driver.writeConfig32(BalloonConfig.POISON_VAL, 0x55555555);
    r.driver.writeConfig32(BalloonConfig.NUM_PAGES, 77);
    r.driver.writeConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID, 77);
    r.driver.writeConfig32(BalloonConfig.ACTUAL, 42);
    expect(r.driver.readConfig32(BalloonConfig.POISON_VAL)).toBe(0xaaaaaaaa);
    expect(r.driver.readConfig32(BalloonConfig.NUM_PAGES)).toBe(0);
    expect(r.driver.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID)).toBe(0);
    expect(r.driver.readConfig32(BalloonConfig.ACTUAL)).toBe(42);
    expect(actual.at(-1)).toBe(42);
    expect(r.device.counters.ignoredConfigWrites).toBe(3);
  });

  it('reads the command id as 0 in STOP, 1 in DONE and the id in REQUESTED and START', () => {
    const r = rig({ freePageHint: true });
    const read = (): number => r.driver.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID);
    expect(read()).toBe(0);
    const id = r.device.startHinting()!;
    expect(read()).toBe(id);
    r.memory.writeU32(BUF, id);
    r.queues.freePage!.add([{ gpa: BUF, length: 4 }], [], 0);
    r.driver.kick(index(r, 'freePage'), r.queues.freePage!);
    expect(r.device.hintState).toBe('start');
    expect(read()).toBe(id);
    r.device.doneHinting();
    expect(read()).toBe(1);
  });
});

describe('queue numbering (Linux: absent queues are skipped)', () => {
  const subsets: Array<[boolean, boolean, boolean]> = [];
  for (let i = 0; i < 8; i++) subsets.push([!!(i & 1), !!(i & 2), !!(i & 4)]);

  it.each(subsets)('stats %s, hint %s, reporting %s', (statsQueue, freePageHint, pageReporting) => {
    // Offer everything; the driver accepts the subset.
    const r = rig({ statsQueue: true, freePageHint: true, pageReporting: true }, { accept: { statsQueue, freePageHint, pageReporting }, live: false });
    const expected: Array<[BalloonQueueRole, number]> = [
      ['inflate', 128],
      ['deflate', 128],
    ];
    if (statsQueue) expected.push(['stats', 128]);
    if (freePageHint) expected.push(['freePage', 1024]);
    if (pageReporting) expected.push(['reporting', 32]);
    expect(r.device.queueRoles).toEqual(expected.map(([role]) => role));
    expected.forEach(([, size], i) => expect(r.driver.queueMaxSize(i)).toBe(size));
    expect(r.driver.queueMaxSize(expected.length)).toBe(0);
  });

  it('takes queue sizes from the options', () => {
    const r = rig({ freePageHint: true, queueSizes: { freePage: 64 } }, { live: false });
    expect(r.driver.queueMaxSize(2)).toBe(64);
  });
});

describe('inflate and deflate (§5.5.6.1)', () => {
  it('discards inflated pages (they read as zero), tracks them, and reports batches', () => {
    const r = rig({}, { memory: new SparseMemory(16 * MiB) });
    r.memory.fill(0x300000, 2 * 4096, 0x5a);
    const inflated: number[][] = [];
    r.device.inflate$.subscribe((p) => inflated.push([...p]));
    sendPfns(r, 'inflate', [0x300, 0x301]);
    expect(inflated).toEqual([[0x300, 0x301]]);
    expect(r.memory.readU32(0x300000)).toBe(0);
    expect((r.memory as SparseMemory).isResident(0x300)).toBe(false);
    expect(r.device.inflatedPages).toBe(2);
    expect(r.device.isInflated(0x301)).toBe(true);
    expect(r.queues.inflate!.getUsed()).toBeDefined();

    const deflated: number[][] = [];
    r.device.deflate$.subscribe((p) => deflated.push([...p]));
    sendPfns(r, 'deflate', [0x300]);
    expect(deflated).toEqual([[0x300]]);
    expect(r.device.inflatedPages).toBe(1);
  });

  it('keeps contents when discard is inhibited', () => {
    const r = rig({ discardInhibited: true });
    r.memory.fill(0x300000, 4096, 0x5a);
    sendPfns(r, 'inflate', [0x300]);
    expect(r.memory.readU8(0x300000)).toBe(0x5a);
    r.device.setDiscardInhibited(false);
    sendPfns(r, 'inflate', [0x300]);
    expect(r.memory.readU8(0x300000)).toBe(0);
  });

  it('skips and counts PFNs that are not RAM, without failing', () => {
    const r = rig({});
    sendPfns(r, 'inflate', [0xfffff, 0x200, 0xffffffff]);
    expect(r.device.balloonCounters.nonRamPfns).toBe(2);
    expect(r.device.inflatedPages).toBe(1);
    expect(r.device.needsResetReason).toBeUndefined();
  });

  it('goes NEEDS_RESET for a buffer that is not whole le32 PFNs, or is device-writable', () => {
    const r = rig({});
    r.queues.inflate!.add([{ gpa: BUF, length: 6 }], [], 0);
    r.driver.kick(0, r.queues.inflate!);
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    const w = rig({});
    w.queues.deflate!.add([], [{ gpa: BUF, length: 8 }], 0);
    w.driver.kick(1, w.queues.deflate!);
    expect(w.device.needsResetReason?.kind).toBe('bad-buffer');
  });

  it('counts deflates below the target without DEFLATE_ON_OOM, and not with it', () => {
    for (const deflateOnOom of [false, true]) {
      const r = rig({ deflateOnOom });
      r.device.setTarget(2);
      sendPfns(r, 'inflate', [0x300, 0x301]);
      sendPfns(r, 'deflate', [0x300]);
      expect(r.device.balloonCounters.unrequestedDeflates).toBe(deflateOnOom ? 0 : 1);
    }
  });
});

describe('stats (§5.5.6.3)', () => {
  function sendStats(r: Rig, entries: Array<[number, number, number?]>, extra = 0): void {
    entries.forEach(([tag, low, high], i) => {
      r.memory.writeU16(BUF + 10 * i, tag);
      r.memory.writeU32(BUF + 10 * i + 2, low);
      r.memory.writeU32(BUF + 10 * i + 6, high ?? 0);
    });
    r.queues.stats!.add([{ gpa: BUF, length: 10 * entries.length + extra }], [], entries.length);
    r.driver.kick(2, r.queues.stats!);
  }

  it('parses 10-byte entries by tag, holds the buffer, and returns it on request', () => {
    const r = rig({ statsQueue: true });
    const stats: BalloonStats[] = [];
    r.device.stats$.subscribe((s) => stats.push(s));
    sendStats(r, [
      [4, 1000],
      [5, 0, 1],
      [15, 7],
      [16, 9],
    ]);
    expect(stats).toEqual([{ freeMemory: 1000, totalMemory: 2 ** 32, directReclaims: 7 }]);
    expect(r.device.balloonCounters.unknownStatTags).toBe(1);
    expect(r.queues.stats!.getUsed()).toBeUndefined();
    r.interrupts.length = 0;
    expect(r.device.requestStats()).toBe(true);
    expect(r.queues.stats!.getUsed()).toEqual({ token: 4, len: 0 });
    expect(r.interrupts).toEqual([{ kind: 'used', queue: 2 }]);
    expect(r.device.requestStats()).toBe(false);
  });

  it('gives back the older buffer when a second one arrives', () => {
    const r = rig({ statsQueue: true });
    sendStats(r, [[4, 1]]);
    sendStats(r, [
      [4, 2],
      [5, 3],
    ]);
    expect(r.device.balloonCounters.extraStatsBuffers).toBe(1);
    expect(r.queues.stats!.getUsed()?.token).toBe(1);
  });

  it('rejects sizes that are not whole entries and values past 2^53', () => {
    const r = rig({ statsQueue: true });
    sendStats(r, [[4, 1]], 3);
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    const v = rig({ statsQueue: true });
    sendStats(v, [[4, 0, 0x200000]]);
    expect(v.device.needsResetReason?.kind).toBe('bad-value');
  });

  it('serves a buffer queued and kicked before DRIVER_OK once live (§5.5.5)', () => {
    const r = rig({ statsQueue: true }, { live: false });
    const stats: BalloonStats[] = [];
    r.device.stats$.subscribe((s) => stats.push(s));
    sendStats(r, [[4, 5]]);
    expect(stats).toEqual([]);
    r.driver.driverOk();
    expect(stats).toEqual([{ freeMemory: 5 }]);
  });
});

describe('free page reporting and page poison (§5.5.6.6, §5.5.6.7)', () => {
  function report(r: Rig, ranges: Array<[number, number]>): void {
    r.queues.reporting!.add(
      [],
      ranges.map(([gpa, length]) => ({ gpa, length })),
      0,
    );
    r.driver.kick(index(r, 'reporting'), r.queues.reporting!);
  }

  it('discards reported pages before the used buffer is published, rounding inward', () => {
    const r = rig({ pageReporting: true });
    r.memory.fill(0x400000, 4 * 4096, 0x77);
    let contentAtPublish = -1;
    r.device.reported$.subscribe((ranges) => {
      expect(ranges).toEqual([{ gpa: 0x401000, length: 2 * 4096 }]);
      // Not yet given back to the driver, and already discarded.
      expect(r.queues.reporting!.outstanding).toBe(1);
      contentAtPublish = r.memory.readU8(0x401000);
    });
    report(r, [[0x400800, 3 * 4096]]);
    expect(contentAtPublish).toBe(0);
    expect(r.memory.readU8(0x400000)).toBe(0x77); // partly covered: kept
    expect(r.memory.readU8(0x403000)).toBe(0x77);
    expect(r.queues.reporting!.getUsed()).toBeDefined();
  });

  it('keeps reported pages with a non-zero poison value, and when discard is inhibited', () => {
    const poisoned = rig({ pageReporting: true, pagePoison: true }, { live: false });
    poisoned.driver.writeConfig32(BalloonConfig.POISON_VAL, 0xaaaaaaaa);
    poisoned.driver.driverOk();
    poisoned.memory.fill(0x400000, 4096, 0xaa);
    report(poisoned, [[0x400000, 4096]]);
    expect(poisoned.memory.readU8(0x400000)).toBe(0xaa);
    expect(poisoned.device.poisonVal).toBe(0xaaaaaaaa);

    const zeroPoison = rig({ pageReporting: true, pagePoison: true });
    zeroPoison.memory.fill(0x400000, 4096, 0x11);
    report(zeroPoison, [[0x400000, 4096]]);
    expect(zeroPoison.memory.readU8(0x400000)).toBe(0);

    const inhibited = rig({ pageReporting: true, discardInhibited: true });
    inhibited.memory.fill(0x400000, 4096, 0x11);
    report(inhibited, [[0x400000, 4096]]);
    expect(inhibited.memory.readU8(0x400000)).toBe(0x11);
  });
});

describe('reset and save/restore', () => {
  it('a guest reset mid-round stops hinting, clears poison, actual and the balloon, keeps the target', () => {
    const r = rig({ freePageHint: true, pagePoison: true }, { live: false });
    r.driver.writeConfig32(BalloonConfig.POISON_VAL, 0xaaaaaaaa);
    r.driver.driverOk();
    r.device.setTarget(5);
    sendPfns(r, 'inflate', [0x300]);
    r.driver.writeConfig32(BalloonConfig.ACTUAL, 1);
    r.device.startHinting();
    r.driver.reset();
    expect(r.device.hintState).toBe('stop');
    expect([r.device.poisonVal, r.device.actual, r.device.inflatedPages, r.device.target]).toEqual([0, 0, 0, 5]);
  });

  it('restores mid-round state on a destination as DONE, with everything else intact', () => {
    const r = rig({ freePageHint: true, statsQueue: true, pagePoison: true }, { live: false });
    r.driver.writeConfig32(BalloonConfig.POISON_VAL, 0xaaaaaaaa);
    r.driver.driverOk();
    r.device.setTarget(9);
    sendPfns(r, 'inflate', [0x300, 0x302]);
    r.driver.writeConfig32(BalloonConfig.ACTUAL, 2);
    r.memory.writeU16(BUF + 512, 4);
    r.queues.stats!.add([{ gpa: BUF + 512, length: 10 }], [], 77);
    r.driver.kick(2, r.queues.stats!);
    const id = r.device.startHinting()!;
    r.memory.writeU32(BUF + 1024, id);
    r.queues.freePage!.add([{ gpa: BUF + 1024, length: 4 }], [], 0);
    r.driver.kick(3, r.queues.freePage!);
    expect(r.device.hintState).toBe('start');

    const twin = new BalloonDevice(r.memory, { freePageHint: true, statsQueue: true, pagePoison: true });
    const interrupts: InterruptEvent[] = [];
    twin.interrupt$.subscribe((e) => interrupts.push(e));
    twin.restore(structuredClone(r.device.save()));
    const mmio = new MmioTransport(twin);
    const driver = new MmioDriver(mmio, r.memory);
    expect(twin.hintState).toBe('done');
    expect(driver.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID)).toBe(1);
    expect(interrupts).toContainEqual({ kind: 'config' });
    expect([twin.target, twin.actual, twin.poisonVal, twin.inflatedPages]).toEqual([9, 2, 0xaaaaaaaa, 2]);
    expect(twin.isInflated(0x302)).toBe(true);
    expect(twin.negotiatedFeatures).toBe(r.device.negotiatedFeatures);
    expect(twin.status & Status.DRIVER_OK).toBe(Status.DRIVER_OK);
    expect(twin.queueRoles).toEqual(r.device.queueRoles);
    // The held stats buffer comes back after the move, and the queues keep working.
    expect(twin.requestStats()).toBe(true);
    expect(r.queues.stats!.getUsed()?.token).toBe(77);
    r.memory.writeU32(BUF, 0x304);
    r.queues.inflate!.add([{ gpa: BUF, length: 4 }], [], 1);
    mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(twin.isInflated(0x304)).toBe(true);
  });
});
