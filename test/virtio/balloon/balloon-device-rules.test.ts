import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../../src/memory/flat-memory.js';
import { BalloonDevice, type BalloonQueueRole, type BalloonStats } from '../../../src/virtio/balloon/balloon-device.js';
import { BalloonConfig, CMD_ID_STOP } from '../../../src/virtio/balloon/constants.js';
import { FreePageHint } from '../../../src/virtio/balloon/free-page-hint.js';
import type { Segment } from '../../../src/virtio/descriptor-chain.js';
import { MmioReg } from '../../../src/virtio/transport/mmio.js';
import { BUF, rig, sendPfns, type Rig } from './rig.js';

// Balloon rules of virtio 1.2 §5.5 and QEMU's free page hinting, driven as a guest would:
// config registers, rings in guest memory, kicks. Expected values come from the spec's layouts.

const MiB = 1 << 20;
const PAGE = 4096;

function kick(r: Rig, role: BalloonQueueRole): void {
  r.mmio.write(MmioReg.QUEUE_NOTIFY, 4, r.device.queueIndex(role)!);
}

const gen = (r: Rig): number => r.mmio.read(MmioReg.CONFIG_GENERATION, 4);

describe('the balloon target (num_pages, §5.5.4)', () => {
  it('takes any u32 page count, 0 and 2^32 - 1 included', () => {
    const r = rig({});
    r.device.setTarget(2 ** 32 - 1);
    expect(r.driver.readConfig32(BalloonConfig.NUM_PAGES)).toBe(0xffffffff);
    r.device.setTarget(0);
    expect(r.driver.readConfig32(BalloonConfig.NUM_PAGES)).toBe(0);
  });

  it('throws a RangeError for anything that is not a u32 page count, and keeps the old target', () => {
    const r = rig({});
    r.device.setTarget(5);
    for (const pages of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => r.device.setTarget(pages)).toThrow(new RangeError(`balloon target ${pages} is not a u32 page count`));
    }
    expect(r.device.target).toBe(5);
  });

  it('sends no config change when the target does not change', () => {
    const r = rig({});
    r.device.setTarget(5);
    const before = gen(r);
    r.interrupts.length = 0;
    r.device.setTarget(5);
    expect(gen(r)).toBe(before);
    expect(r.interrupts).toEqual([]);
  });
});

describe('config layout (§5.5.4: le32 fields)', () => {
  it('serves 1 and 2-byte reads of the little-endian fields', () => {
    const r = rig({ pagePoison: true, freePageHint: true }, { live: false });
    r.driver.writeConfig32(BalloonConfig.POISON_VAL, 0x11223344);
    r.driver.driverOk();
    r.device.setTarget(0x12345678);
    expect(r.mmio.read(MmioReg.CONFIG + 1, 1)).toBe(0x56);
    expect(r.mmio.read(MmioReg.CONFIG + 2, 2)).toBe(0x1234);
    expect(r.mmio.read(MmioReg.CONFIG + 12, 1)).toBe(0x44);
    expect(r.mmio.read(MmioReg.CONFIG + 14, 2)).toBe(0x1122);
    expect(r.driver.readConfig32(BalloonConfig.POISON_VAL)).toBe(0x11223344);
  });

  it('ignores and counts writes narrower than the le32 actual field', () => {
    const r = rig({});
    const actual: number[] = [];
    r.device.actual$.subscribe((a) => actual.push(a));
    r.mmio.write(MmioReg.CONFIG + BalloonConfig.ACTUAL, 2, 7);
    r.mmio.write(MmioReg.CONFIG + BalloonConfig.ACTUAL, 1, 7);
    expect(r.device.actual).toBe(0);
    expect(actual).toEqual([0]);
    expect(r.device.counters.ignoredConfigWrites).toBe(2);
  });

  it('before DRIVER_OK accepts poison_val and actual only, not the device-owned fields', () => {
    const r = rig({ pagePoison: true, freePageHint: true }, { live: false });
    r.driver.writeConfig32(BalloonConfig.NUM_PAGES, 77);
    r.driver.writeConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID, 78);
    expect(r.device.poisonVal).toBe(0);
    expect(r.device.target).toBe(0);
    expect(r.device.counters.ignoredConfigWrites).toBe(2);
  });
});

describe('queue roles (Linux numbering)', () => {
  it('before negotiation lists every offered queue', () => {
    const d = new BalloonDevice(new FlatMemory(MiB), { statsQueue: true, freePageHint: true });
    expect(d.queueRoles).toEqual(['inflate', 'deflate', 'stats', 'freePage']);
    expect(d.queueIndex('freePage')).toBe(3);
    expect(d.queues).toHaveLength(4);
  });

  it('after negotiation lists the accepted ones, and has no index for a declined one', () => {
    const r = rig({ statsQueue: true, freePageHint: true }, { accept: { freePageHint: true } });
    expect(r.device.queueIndex('inflate')).toBe(0);
    expect(r.device.queueIndex('deflate')).toBe(1);
    expect(r.device.queueIndex('freePage')).toBe(2);
    expect(r.device.queueIndex('stats')).toBeUndefined();
    expect(r.device.requestStats()).toBe(false);
  });
});

describe('inflate and deflate (§5.5.6.1)', () => {
  it('reads PFNs split across descriptors at unrelated addresses (§2.7.4: no assumed framing)', () => {
    const r = rig({});
    const inflated: number[][] = [];
    r.device.inflate$.subscribe((p) => inflated.push([...p]));
    r.memory.writeU32(BUF, 0x300);
    r.memory.writeU32(BUF + 0x100, 0x301);
    r.memory.writeU32(BUF + 4, 0xdead); // next to the first part, not part of the buffer
    r.queues.inflate!.add(
      [
        { gpa: BUF, length: 4 },
        { gpa: BUF + 0x100, length: 4 },
      ],
      [],
      1,
    );
    kick(r, 'inflate');
    expect(inflated).toEqual([[0x300, 0x301]]);
    expect(r.device.inflatedPages).toBe(2);
  });

  it('names the role and the sizes when a buffer is not an array of le32 PFNs', () => {
    const r = rig({});
    r.queues.inflate!.add([{ gpa: BUF, length: 6 }], [], 0);
    kick(r, 'inflate');
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    expect(r.device.needsResetReason?.message).toMatch(/^inflate .*le32 PFNs .*6 readable, 0 writable/);
  });

  it('counts a deflate as unrequested only when it takes the balloon below the target', () => {
    const r = rig({});
    r.device.setTarget(2);
    sendPfns(r, 'inflate', [0x300, 0x301]);
    r.device.setTarget(1); // the host asks for one page back
    sendPfns(r, 'deflate', [0x300]);
    expect(r.device.balloonCounters.unrequestedDeflates).toBe(0);
    sendPfns(r, 'deflate', [0x301]); // now below the target of 1
    expect(r.device.balloonCounters.unrequestedDeflates).toBe(1);
    expect(r.device.inflatedPages).toBe(0);
  });
});

describe('stats (§5.5.6.3)', () => {
  function writeEntry(r: Rig, at: number, tag: number, low: number, high: number): void {
    r.memory.writeU16(at, tag);
    r.memory.writeU32(at + 2, low);
    r.memory.writeU32(at + 6, high);
  }

  function collect(r: Rig): BalloonStats[] {
    const stats: BalloonStats[] = [];
    r.device.stats$.subscribe((s) => stats.push(s));
    return stats;
  }

  it('accepts values up to 2^53 - 1, and names the tag of one above', () => {
    const r = rig({ statsQueue: true });
    const stats = collect(r);
    writeEntry(r, BUF, 4, 0xffffffff, 0x1fffff);
    r.queues.stats!.add([{ gpa: BUF, length: 10 }], [], 1);
    kick(r, 'stats');
    expect(stats).toEqual([{ freeMemory: Number.MAX_SAFE_INTEGER }]);
    writeEntry(r, BUF, 5, 0, 0x200000);
    r.queues.stats!.add([{ gpa: BUF, length: 10 }], [], 2);
    kick(r, 'stats');
    expect(r.device.needsResetReason?.kind).toBe('bad-value');
    expect(r.device.needsResetReason?.message).toMatch(/totalMemory .*2\^53/);
  });

  it('refuses a stats buffer with a device-writable part, naming the sizes', () => {
    const r = rig({ statsQueue: true });
    writeEntry(r, BUF, 4, 1, 0);
    r.queues.stats!.add([{ gpa: BUF, length: 10 }], [{ gpa: BUF + 0x100, length: 8 }], 1);
    kick(r, 'stats');
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    expect(r.device.needsResetReason?.message).toMatch(/stats .*10-byte entries .*10 readable, 8 writable/);
  });

  it('reads an entry split across two descriptors', () => {
    const r = rig({ statsQueue: true });
    const stats = collect(r);
    writeEntry(r, BUF, 4, 0x01020304, 0);
    // The first 6 bytes at BUF, the last 4 moved away.
    r.memory.writeU32(BUF + 0x200, r.memory.readU32(BUF + 6));
    r.memory.writeU32(BUF + 6, 0xffffffff);
    r.queues.stats!.add(
      [
        { gpa: BUF, length: 6 },
        { gpa: BUF + 0x200, length: 4 },
      ],
      [],
      1,
    );
    kick(r, 'stats');
    expect(stats).toEqual([{ freeMemory: 0x01020304 }]);
  });

  it('does not give the held buffer back once the device needs a reset', () => {
    const r = rig({ statsQueue: true });
    writeEntry(r, BUF, 4, 1, 0);
    r.queues.stats!.add([{ gpa: BUF, length: 10 }], [], 1);
    kick(r, 'stats');
    r.queues.inflate!.add([{ gpa: BUF, length: 3 }], [], 2);
    kick(r, 'inflate');
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    expect(r.device.requestStats()).toBe(false);
    expect(r.queues.stats!.getUsed()).toBeUndefined();
  });
});

describe('free page hinting (§5.5.6.5, QEMU)', () => {
  /** A command: 4 device-readable bytes holding `id`. */
  function command(r: Rig, id: number, at: number): void {
    r.memory.writeU32(at, id);
    r.queues.freePage!.add([{ gpa: at, length: 4 }], [], 0);
  }

  /** Free pages: device-writable segments. */
  function pages(r: Rig, segments: Segment[]): void {
    r.queues.freePage!.add([], segments, 0);
  }

  /** Hints and state changes, in the order the device published them. */
  function watch(r: Rig): string[] {
    const log: string[] = [];
    r.device.hintState$.subscribe((s) => log.push(`state ${s}`));
    r.device.hints$.subscribe((b) => log.push(`hints ${b.cmdId.toString(16)} ${b.ranges.map((x) => `${x.gpa.toString(16)}+${x.length / PAGE}`).join(' ')}`));
    return log;
  }

  it('starts in STOP', () => {
    const d = new BalloonDevice(new FlatMemory(MiB), { freePageHint: true });
    const states: string[] = [];
    d.hintState$.subscribe((s) => states.push(s));
    expect(states).toEqual(['stop']);
  });

  it('publishes the hints of a round as one batch, before the state that closes it', () => {
    const r = rig({ freePageHint: true });
    const log = watch(r);
    const id = r.device.startHinting()!;
    command(r, id, BUF);
    pages(r, [{ gpa: 0x400000, length: 2 * PAGE }]);
    pages(r, [
      { gpa: 0x600000, length: PAGE },
      { gpa: 0x700800, length: 2048 }, // no whole page
    ]);
    command(r, CMD_ID_STOP, BUF + 8);
    pages(r, [{ gpa: 0x800000, length: PAGE }]); // after the driver's STOP: not a hint
    kick(r, 'freePage');
    const hex = id.toString(16);
    expect(log).toEqual(['state stop', 'state requested', 'state start', `hints ${hex} 400000+2 600000+1`, 'state stop']);
    expect(r.device.balloonCounters.emptyHints).toBe(1);
    // Every buffer went back to the driver.
    expect(r.queues.freePage!.drainUsed()).toHaveLength(5);
    expect(r.device.needsResetReason).toBeUndefined();
  });

  it('ignores a stale STOP and pages sent before the current id was acknowledged (H6b, H6d)', () => {
    const r = rig({ freePageHint: true });
    const log = watch(r);
    const id = r.device.startHinting()!;
    command(r, CMD_ID_STOP, BUF); // left over from an earlier round
    pages(r, [{ gpa: 0x400000, length: PAGE }]);
    command(r, id - 1, BUF + 8); // a stale id
    kick(r, 'freePage');
    expect(r.device.hintState).toBe('requested');
    expect(log).toEqual(['state stop', 'state requested']);
    command(r, id, BUF + 16);
    pages(r, [{ gpa: 0x500000, length: PAGE }]);
    kick(r, 'freePage');
    r.device.stopHinting();
    expect(log).toEqual(['state stop', 'state requested', 'state start', `hints ${id.toString(16)} 500000+1`, 'state stop']);
  });

  it('reads a command split across two descriptors', () => {
    const r = rig({ freePageHint: true });
    const id = r.device.startHinting()!;
    r.memory.writeU16(BUF, id & 0xffff);
    r.memory.writeU16(BUF + 2, 0xffff); // next to the first half, not part of the buffer
    r.memory.writeU16(BUF + 0x100, id >>> 16);
    r.queues.freePage!.add(
      [
        { gpa: BUF, length: 2 },
        { gpa: BUF + 0x100, length: 2 },
      ],
      [],
      0,
    );
    kick(r, 'freePage');
    expect(r.device.hintState).toBe('start');
  });

  it('goes NEEDS_RESET for a command that is not 4 bytes, keeping the hints served before it', () => {
    const r = rig({ freePageHint: true });
    const hints: number[] = [];
    r.device.hints$.subscribe((b) => hints.push(...b.ranges.map((x) => x.gpa)));
    const id = r.device.startHinting()!;
    command(r, id, BUF);
    pages(r, [{ gpa: 0x400000, length: PAGE }]);
    r.memory.writeU32(BUF + 8, CMD_ID_STOP);
    r.queues.freePage!.add([{ gpa: BUF + 8, length: 8 }], [], 0);
    kick(r, 'freePage');
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    expect(r.device.needsResetReason?.message).toMatch(/command is 8 bytes, not 4/);
    expect(hints).toEqual([0x400000]);
  });

  it('offers no round unless the driver is live and accepted hinting', () => {
    const early = rig({ freePageHint: true }, { live: false });
    expect(early.device.startHinting()).toBeUndefined();
    const declined = rig({ freePageHint: true }, { accept: {} });
    const before = gen(declined);
    expect(declined.device.startHinting()).toBeUndefined();
    expect(declined.device.hintState).toBe('stop');
    expect(gen(declined)).toBe(before);
    expect(declined.interrupts).toEqual([]);
  });

  it('does not disturb the driver when no command id is free (H7)', () => {
    const r = rig({ freePageHint: true, hintProtocol: new FreePageHint({ idRange: { min: 2, max: 2 } }) });
    const states: string[] = [];
    r.device.hintState$.subscribe((s) => states.push(s));
    expect(r.device.startHinting()).toBe(2);
    command(r, 2, BUF);
    kick(r, 'freePage');
    r.device.stopHinting();
    const before = gen(r);
    r.interrupts.length = 0;
    expect(r.device.startHinting()).toBeUndefined();
    expect(gen(r)).toBe(before);
    expect(r.interrupts).toEqual([]);
    expect(states).toEqual(['stop', 'requested', 'start', 'stop']);
  });

  it('changes config once for DONE, however often the host asks', () => {
    const r = rig({ freePageHint: true });
    const before = gen(r);
    r.device.doneHinting();
    r.device.doneHinting();
    expect(gen(r)).toBe(before + 1);
    expect(r.interrupts).toEqual([{ kind: 'config' }]);
  });
});

describe('free page reporting (§5.5.6.7)', () => {
  it('reports and discards only whole pages; a buffer with none publishes nothing', () => {
    const r = rig({ pageReporting: true });
    const reported: string[] = [];
    r.device.reported$.subscribe((ranges) => reported.push(ranges.map((x) => `${x.gpa.toString(16)}+${x.length}`).join(' ')));
    r.memory.fill(0x400000, PAGE, 0x77);
    r.queues.reporting!.add([], [{ gpa: 0x400800, length: 0x100 }], 1);
    kick(r, 'reporting');
    expect(reported).toEqual([]);
    r.queues.reporting!.add(
      [],
      [
        { gpa: 0x400800, length: 0x100 },
        { gpa: 0x500000, length: PAGE },
      ],
      2,
    );
    kick(r, 'reporting');
    expect(reported).toEqual(['500000+4096']);
    expect(r.memory.readU8(0x400800)).toBe(0x77);
    expect(r.device.needsResetReason).toBeUndefined();
    expect(r.queues.reporting!.drainUsed().map((u) => u.token)).toEqual([1, 2]);
  });
});

describe('device reset', () => {
  it('publishes actual = 0 only when it was not 0 already', () => {
    const r = rig({});
    const actual: number[] = [];
    r.device.actual$.subscribe((a) => actual.push(a));
    r.driver.reset();
    expect(actual).toEqual([0]);
    r.driver.negotiate(0n);
    r.driver.writeConfig32(BalloonConfig.ACTUAL, 5);
    r.driver.reset();
    expect(actual).toEqual([0, 5, 0]);
  });
});
