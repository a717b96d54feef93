import { describe, expect, it } from 'vitest';
import { idle } from '../../src/guest/workloads.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { PageBitmap } from '../../src/memory/page-bitmap.js';
import { DEFAULT_COST_MODEL, WIRE_PAGE_BYTES } from '../../src/migration/cost-model.js';
import { Destination } from '../../src/migration/destination.js';
import { MigrationError } from '../../src/migration/errors.js';
import { OverlayManager, type OverlayPageState } from '../../src/migration/overlay.js';
import type { MigrationSource, RoundProgress } from '../../src/migration/migration-source.js';
import { PrecopyMigration, type PrecopyOptions } from '../../src/migration/precopy.js';
import { SAFE_PRECOPY_RULES, type HintWindowView } from '../../src/migration/safety-rules.js';
import { StrategyError, strategySet } from '../../src/migration/strategies.js';
import { StreamReader, type StreamRecord } from '../../src/migration/stream.js';
import { migrate } from '../../src/sim/migrate.js';
import { BalloonDevice, type HintBatch } from '../../src/virtio/balloon/balloon-device.js';
import { BalloonConfig, CMD_ID_DONE } from '../../src/virtio/balloon/constants.js';
import { BUF, rig } from '../virtio/balloon/rig.js';
import { busyGuest, freshDestination, lostPages, MiB } from './support.js';

// The precopy engine's rules, each on a source small enough to reason about exactly: RAM in two
// regions with a hole, a scripted guest that writes what the test says, no balloon driver.

const LOW_PAGES = 64;
const HIGH_GPA = 1 << 20;
const HIGH_PAGES = 32;
const REGIONS = [
  { gpa: 0, size: LOW_PAGES * PAGE_SIZE },
  { gpa: HIGH_GPA, size: HIGH_PAGES * PAGE_SIZE },
];
const ALL_PAGES = LOW_PAGES + HIGH_PAGES;
/** Pages with contents: every other page of both regions; the rest are zero. */
const DATA_PFNS = [...Array.from({ length: LOW_PAGES / 2 }, (_, i) => 2 * i), ...Array.from({ length: HIGH_PAGES / 2 }, (_, i) => HIGH_GPA / PAGE_SIZE + 2 * i)];

class ScriptedSource implements MigrationSource {
  readonly memory = new FlatMemory(REGIONS);
  readonly device = new BalloonDevice(this.memory);
  readonly hints = this.device;
  readonly reportsFreePages = false;
  overlays?: OverlayManager;
  steps = 0;
  pauses = 0;
  resumes = 0;
  paused = false;

  constructor(
    /** What the guest does in each step it runs (1 ms each). */
    private readonly guest: (memory: FlatMemory, step: number) => void = () => {},
    private readonly states: Record<string, unknown> = {},
  ) {
    for (const pfn of DATA_PFNS) this.memory.fill(pfn * PAGE_SIZE, PAGE_SIZE, (pfn % 251) + 1);
  }

  /** Time passes in steps of 1 ms; a paused guest does nothing in them. */
  step(): number {
    if (!this.paused) this.guest(this.memory, ++this.steps);
    return 1;
  }
  pause(): void {
    this.pauses++;
    this.paused = true;
  }
  resume(): void {
    this.resumes++;
    this.paused = false;
  }
  deviceStates(): Record<string, unknown> {
    return this.states;
  }
}

/** 1 MB/s: a page takes about 4 ms to send, so the guest runs several steps per page. */
const SLOW = { bandwidth: 1e6 };

/** A guest that rewrites pages 0..count-1 in every step. */
const rewriting =
  (count: number) =>
  (memory: FlatMemory, step: number): void => {
    for (let pfn = 0; pfn < count; pfn++) memory.writeU32(pfn * PAGE_SIZE, step);
  };

function run(source: ScriptedSource, options: Partial<Omit<PrecopyOptions, 'strategies'>> & { strategies?: string; fresh?: boolean } = {}) {
  const memory = new FlatMemory(REGIONS);
  // A destination that is not fresh holds leftovers: every byte must come from the stream.
  if (options.fresh === false) for (const r of REGIONS) memory.fill(r.gpa, r.size, 0x5c);
  const destination = new Destination(memory, { fresh: options.fresh ?? true });
  const incoming = destination.incoming();
  const records: StreamRecord[] = [];
  const reader = new StreamReader((r) => records.push(r));
  const progress: RoundProgress[] = [];
  const { strategies: _names, fresh: _fresh, ...engineOptions } = options;
  const engine = new PrecopyMigration(source, {
    ...engineOptions,
    strategies: strategySet(options.strategies ?? 'zero'),
    destinationFresh: destination.fresh,
    sink: (chunk) => {
      options.sink?.(chunk);
      incoming.push(chunk);
      reader.push(chunk);
    },
  });
  engine.progress$.subscribe((p) => progress.push(p));
  const result = engine.run();
  return { result, destination, incoming, records, progress };
}

const same = (a: FlatMemory, b: Destination, pfn: number): boolean => Buffer.compare(a.read(pfn * PAGE_SIZE, PAGE_SIZE), b.memory.read(pfn * PAGE_SIZE, PAGE_SIZE)) === 0;
const ramPfns = (): number[] => [...Array.from({ length: LOW_PAGES }, (_, i) => i), ...Array.from({ length: HIGH_PAGES }, (_, i) => HIGH_GPA / PAGE_SIZE + i)];

describe('precopy rounds', () => {
  it('an idle guest goes in one round and a stop-and-copy round: every RAM page of every region, nothing of the hole', () => {
    const source = new ScriptedSource();
    const { result, destination, incoming, records, progress } = run(source);
    incoming.finish();
    expect(result.status).toBe('completed');
    expect(result.rounds).toBe(2);
    expect(result.normalPages).toBe(DATA_PFNS.length);
    expect(result.zeroPages).toBe(ALL_PAGES - DATA_PFNS.length);
    for (const pfn of ramPfns()) expect(same(source.memory, destination, pfn)).toBe(true);
    for (const r of records) if ('gpa' in r) expect(r.gpa < LOW_PAGES * PAGE_SIZE || r.gpa >= HIGH_GPA).toBe(true);
    expect(source.pauses).toBe(1);
    expect(source.resumes).toBe(0);
    // Progress: one report per round; the last says nothing is left, with the result's figures.
    expect(progress.map((p) => p.round)).toEqual([1, 2]);
    expect(progress.at(-1)).toEqual({ round: 2, remainingPages: 0, bytes: result.bytes, simulatedMs: result.totalMs });
    expect(progress[0]!.remainingPages).toBe(0);
    expect(progress[0]!.bytes).toBeGreaterThanOrEqual(DATA_PFNS.length * WIRE_PAGE_BYTES);
    expect(result.downtimeMs).toBeGreaterThan(0);
    expect(result.downtimeMs).toBeLessThan(result.totalMs);
  });

  it('onto a used destination, every page arrives, the last run of zero pages included', () => {
    const source = new ScriptedSource();
    const { result, destination, incoming } = run(source, { fresh: false });
    incoming.finish();
    expect(result.skippedZeroPages).toBe(0);
    for (const pfn of ramPfns()) expect(same(source.memory, destination, pfn), `pfn ${pfn}`).toBe(true);
  });

  it('switches over as soon as the rest fits the downtime limit, even a limit of zero', () => {
    const { result } = run(new ScriptedSource(), { downtimeLimitMs: 0 });
    expect(result.rounds).toBe(2);
  });

  it('a guest that keeps writing runs to the round limit: 30 by default, or the one given', () => {
    // At 1 MB/s, 8 pages take 33 ms to send, over the 1 ms limit, and the guest rewrites them meanwhile.
    expect(run(new ScriptedSource(rewriting(8)), { cost: SLOW, downtimeLimitMs: 1 }).result.rounds).toBe(31);
    const { result, progress } = run(new ScriptedSource(rewriting(8)), { cost: SLOW, downtimeLimitMs: 1, maxRounds: 3 });
    expect(result.rounds).toBe(4);
    expect(progress.slice(0, 3).every((p) => p.remainingPages === 8)).toBe(true);
  });

  it('switches over as QEMU does: what is left, every page counted whole, fits the limit at the bandwidth measured over the last period', () => {
    // 8 rewritten pages are 32,768 bytes; the thread measures about 1 MB/s, so about 33 ms.
    const fits = run(new ScriptedSource(rewriting(8)), { cost: SLOW, downtimeLimitMs: 40, maxRounds: 10 }).result;
    expect(fits.rounds).toBeLessThan(10);
    expect(fits.downtimeLimitMet).toBe(true);
    expect(run(new ScriptedSource(rewriting(8)), { cost: SLOW, downtimeLimitMs: 30, maxRounds: 10 }).result.rounds).toBe(11);
  });

  it('device state records are charged on the wire', () => {
    const big = { blob: 'x'.repeat(100_000) };
    const without = run(new ScriptedSource()).result;
    const withState = run(new ScriptedSource(() => {}, { big })).result;
    expect(withState.bytes - without.bytes).toBeGreaterThanOrEqual(100_000);
    expect(withState.totalMs).toBeGreaterThan(without.totalMs);
    expect(withState.downtimeMs - without.downtimeMs).toBeGreaterThanOrEqual((100_000 * 1000) / DEFAULT_COST_MODEL.bandwidth);
  });

  it("refuses 'report' on a guest that did not negotiate free page reporting", () => {
    expect(() => run(new ScriptedSource(), { strategies: 'zero+report' })).toThrow(new StrategyError("'report' needs a guest that negotiated free page reporting"));
  });
});

describe("QEMU's rate limiter and the switchover estimate", () => {
  /** An instant thread (reading and the channel take no time) behind a limit of one whole page per 100 ms window. */
  const ONE_PAGE_A_WINDOW = { scanRate: 1e15, bandwidth: 1e15, maxBandwidth: WIRE_PAGE_BYTES * 10 };

  it('sends a window’s bytes, then sleeps to the window’s end while the guest runs; zero pages barely count', () => {
    const source = new ScriptedSource();
    // A limit below one page: no switchover before the round ends.
    const { result, records, incoming } = run(source, { cost: ONE_PAGE_A_WINDOW, downtimeLimitMs: 1 });
    incoming.finish();
    // Data and zero pages alternate: each window takes one data page and the zero page before
    // it, so the 48 data pages fill 48 windows and the last zero page opens a 49th; the guest
    // ran through them.
    expect(result.totalMs).toBeGreaterThan(48 * 100);
    expect(result.totalMs).toBeLessThan(48 * 100 + 1);
    expect(source.steps).toBeGreaterThanOrEqual(47 * 100);
    // The same pages as an unlimited migration, in the same order.
    const unlimited = run(new ScriptedSource(), { cost: { ...ONE_PAGE_A_WINDOW, maxBandwidth: Number.POSITIVE_INFINITY } });
    const pages = (rs: StreamRecord[]) => rs.filter((r) => r.type !== 'ROUND');
    expect(pages(records)).toEqual(pages(unlimited.records));
    expect(unlimited.result.totalMs).toBeLessThan(2);
  });

  it('overlaps reading with the windows: a round takes the longer of the two, not their sum', () => {
    // Reading a page takes 10 ms: 96 pages are 960 ms of reading, 48 data pages are 48 windows.
    const reading = { scanRate: PAGE_SIZE * 100, bandwidth: 1e15 };
    const readOnly = run(new ScriptedSource(), { cost: reading }).result.totalMs;
    const limitedOnly = run(new ScriptedSource(), { cost: ONE_PAGE_A_WINDOW, downtimeLimitMs: 1 }).result.totalMs;
    const both = run(new ScriptedSource(), { cost: { ...reading, maxBandwidth: ONE_PAGE_A_WINDOW.maxBandwidth }, downtimeLimitMs: 1 }).result.totalMs;
    expect(both).toBeLessThan(readOnly + limitedOnly - 500);
    expect(both).toBeGreaterThanOrEqual(Math.max(readOnly, limitedOnly) - 100);
  });

  it('the stop-and-copy round is not limited', () => {
    // A guest that rewrites 8 data pages in every step: at one page a window they would take 800 ms.
    const { result } = run(new ScriptedSource(rewriting(8)), { cost: ONE_PAGE_A_WINDOW, downtimeLimitMs: 1, maxRounds: 2 });
    expect(result.rounds).toBe(3);
    expect(result.downtimeMs).toBeLessThan(1);
  });

  it('the bandwidth it measures is bytes over elapsed time, so the switchover test counts the reading, not only the wire', () => {
    // No time on the wire, 0.25 ms to read a page: 4104 bytes per 0.25 ms, so the 32,768 bytes
    // of 8 rewritten pages take 2 ms (a test of wire time alone would find them free).
    const quarter = { scanRate: PAGE_SIZE * 4000, bandwidth: 1e15 };
    const pendingMs = (8 * PAGE_SIZE) / (WIRE_PAGE_BYTES / 0.25);
    expect(run(new ScriptedSource(rewriting(8)), { cost: quarter, downtimeLimitMs: pendingMs * 1.05, maxRounds: 200 }).result.rounds).toBeLessThan(200);
    expect(run(new ScriptedSource(rewriting(8)), { cost: quarter, downtimeLimitMs: pendingMs * 0.95, maxRounds: 200 }).result.rounds).toBe(201);
  });

  it('says when the downtime limit was not met, and counts syncs as QEMU does (setup included)', () => {
    const met = run(new ScriptedSource()).result;
    expect(met).toMatchObject({ downtimeLimitMet: true, syncs: 3, rounds: 2 });
    // Forced by the round limit: the guest stops with 8 pages to send whatever the limit says.
    const forced = run(new ScriptedSource(rewriting(8)), { cost: SLOW, downtimeLimitMs: 1, maxRounds: 3 }).result;
    expect(forced.downtimeMs).toBeGreaterThan(1);
    expect(forced).toMatchObject({ downtimeLimitMet: false, syncs: 5, rounds: 4 });
  });
});

describe('a quiet guest', () => {
  /** Where the guest writes, and in which step: a page ahead of the scan in the first run, and one in the second run (the high region). */
  const WRITES = [
    { pfn: 40, step: 3 }, // a data page of the low region, read about 80 ms into round 1 at 1 MB/s
    { pfn: HIGH_GPA / PAGE_SIZE + 12, step: 150 }, // read about 160 ms in, after the 131 ms of the low region
  ];

  /** A guest that rewrites one page in one step and says how long it stays quiet before that — or lies. */
  class QuietSource extends ScriptedSource {
    batches = 0;
    constructor(
      private readonly write: { readonly pfn: number; readonly step: number } | undefined,
      private readonly lie = false,
    ) {
      super((memory, step) => {
        if (step === write?.step) memory.fill(write.pfn * PAGE_SIZE, PAGE_SIZE, 0xee);
      });
    }
    quietMs(maxMs: number): number {
      this.batches++;
      // Step n runs in [n - 1, n): the steps before the write are quiet, and so is everything after it.
      if (this.write === undefined || this.lie || this.paused || this.steps >= this.write.step) return maxMs;
      return Math.min(maxMs, this.write.step - 1 - this.steps);
    }
  }

  /** What each record that carried page `pfn` said its first byte was, in stream order. */
  const sent = (records: readonly StreamRecord[], pfn: number): number[] =>
    records.flatMap((r) => {
      if (r.type !== 'PAGE' && r.type !== 'FILL' && r.type !== 'ZERO') return [];
      if (r.gpa > pfn * PAGE_SIZE || pfn * PAGE_SIZE >= r.gpa + (r.type === 'PAGE' ? 1 : r.count) * PAGE_SIZE) return [];
      return [r.type === 'PAGE' ? r.data[0]! : r.type === 'FILL' ? r.byte : 0];
    });

  it.each(WRITES)('lets a batch read ahead only up to its next step that does something: the same migration as page by page (page $pfn, step $step)', (write) => {
    // A downtime limit below one page: no switchover before the round ends.
    const stepping = run(new ScriptedSource((memory, step) => step === write.step && memory.fill(write.pfn * PAGE_SIZE, PAGE_SIZE, 0xee)), { cost: SLOW, downtimeLimitMs: 1 });
    const quiet = run(new QuietSource(write), { cost: SLOW, downtimeLimitMs: 1 });
    quiet.incoming.finish();
    // Read after the write in round 1; sent again in round 2, as the write left it in the dirty log.
    expect(sent(quiet.records, write.pfn)).toEqual([0xee, 0xee]);
    expect(sent(stepping.records, write.pfn)).toEqual([0xee, 0xee]);
    const figures = ({ result: r }: typeof quiet) => [r.rounds, r.normalPages, r.zeroPages, r.bytes];
    expect(figures(quiet)).toEqual(figures(stepping));
    expect(quiet.result.totalMs).toBeCloseTo(stepping.result.totalMs, 6);
  });

  // A write the first turn of the migration loop (50 ms) reads past: page 10, read about 20 ms in.
  const EARLY_WRITES = [{ pfn: 10, step: 3 }];

  it.each(EARLY_WRITES)('a guest that claims quiet and writes anyway is read too early: round 1 carries the old page, round 2 the new one (page $pfn)', (write) => {
    const lying = run(new QuietSource(write, true), { cost: SLOW, downtimeLimitMs: 1 });
    lying.incoming.finish();
    expect(sent(lying.records, write.pfn)).toEqual([(write.pfn % 251) + 1, 0xee]);
    expect(lying.destination.memory.read(write.pfn * PAGE_SIZE, 1)[0]).toBe(0xee);
  });

  // Zero pages at 0.25 ms each, and no time on the wire: 64 + 32 pages are 24 ms of reading.
  const QUARTER_MS = { scanRate: PAGE_SIZE * 4000, bandwidth: 1e15 };

  it('a guest that stays quiet has its first round read in one batch, both regions in it', () => {
    const source = new QuietSource(undefined);
    const { result } = run(source, { cost: QUARTER_MS });
    expect(result.rounds).toBe(2);
    expect(source.batches).toBe(1); // the stop-and-copy round has nothing to send
  });

  it('the quiet is counted from the guest’s own clock, which the setup sync put ahead', () => {
    // The setup sync (about 0.05 ms) ran step 1, so the guest is 0.95 ms ahead when round 1
    // starts; it is quiet in step 2, writes in step 3, and is quiet after that. The first batch
    // reads up to step 3 (1.95 ms: 8 pages); the second, after step 3, reads the rest.
    const source = new QuietSource({ pfn: 60, step: 3 });
    const { result } = run(source, { cost: QUARTER_MS, maxRounds: 1 });
    expect(result.rounds).toBe(2);
    expect(source.batches).toBe(2 + 1);
  });

  it('a batch stops reading at the cancel instant however far a quiet guest would let it read', () => {
    const setupMs = DEFAULT_COST_MODEL.syncFixedMs + (DEFAULT_COST_MODEL.syncPerGiBMs * ALL_PAGES * PAGE_SIZE) / 2 ** 30;
    for (const cancelAfterMs of [1, 5, 12.3]) {
      const quiet = run(new QuietSource(undefined), { cost: QUARTER_MS, cancelAfterMs }).result;
      const stepping = run(new ScriptedSource(), { cost: QUARTER_MS, cancelAfterMs }).result;
      expect(quiet.status).toBe('cancelled');
      // Reading stops at the cancel instant (at least one step's worth); page by page it stops at the first step boundary after it.
      const pages = (r: typeof quiet): number => r.zeroPages + r.normalPages;
      expect(pages(quiet)).toBe(Math.max(4, Math.ceil((cancelAfterMs - setupMs) / 0.25)));
      expect(pages(quiet)).toBeLessThanOrEqual(pages(stepping));
    }
  });
});

describe('zero pages', () => {
  it('zero-skip skips the first round’s zero pages on a fresh destination only', () => {
    const zeros = ALL_PAGES - DATA_PFNS.length;
    const fresh = run(new ScriptedSource(), { strategies: 'zero+zero-skip' });
    expect(fresh.result).toMatchObject({ skippedZeroPages: zeros, zeroPages: 0, normalPages: DATA_PFNS.length });
    const used = run(new ScriptedSource(), { strategies: 'zero+zero-skip', fresh: false });
    expect(used.result).toMatchObject({ skippedZeroPages: 0, zeroPages: zeros });
    expect(run(new ScriptedSource(), { strategies: 'zero' }).result.skippedZeroPages).toBe(0);
  });

  it('a page zeroed after the first round is sent as a zero record, not skipped', () => {
    // Step 1 runs during round 1, after page 0 was sent: the page is zeroed and dirty again.
    const source = new ScriptedSource((memory, step) => {
      if (step === 1) memory.fill(0, PAGE_SIZE, 0);
    });
    const { result, destination, incoming } = run(source, { strategies: 'zero+zero-skip', downtimeLimitMs: 0 });
    incoming.finish();
    expect(result.zeroPages).toBe(1);
    expect(same(source.memory, destination, 0)).toBe(true);
  });

  it("'none' sends zero pages whole, though only the data pages count as data", () => {
    const { result } = run(new ScriptedSource(), { strategies: 'none' });
    expect(result).toMatchObject({ normalPages: ALL_PAGES, zeroPages: 0, skippedZeroPages: 0, dataPages: DATA_PFNS.length });
  });

  it('counts the records it wrote, as a reader decodes them', () => {
    for (const strategies of ['none', 'zero', 'zero+zero-skip']) {
      const { result, records } = run(new ScriptedSource(), { strategies });
      expect(result.records, strategies).toBe(records.length);
    }
  });
});

describe('ending early', () => {
  it('a cancel due when the first batch would start sends no page', () => {
    // The setup sync is all that happened before the first batch.
    const ramBytes = ALL_PAGES * PAGE_SIZE;
    const setupMs = DEFAULT_COST_MODEL.syncFixedMs + (DEFAULT_COST_MODEL.syncPerGiBMs * ramBytes) / 2 ** 30;
    for (const cancelAfterMs of [0, setupMs]) {
      const source = new ScriptedSource();
      const { result } = run(source, { cancelAfterMs });
      expect(result.status).toBe('cancelled');
      expect(result.normalPages + result.zeroPages).toBe(0);
      expect(source.pauses).toBe(0);
    }
  });

  it('a cancel during stop-and-copy resumes the source and sends no end record', () => {
    const whole = run(new ScriptedSource(rewriting(8)), { cost: SLOW, downtimeLimitMs: 1, maxRounds: 3 }).result;
    const pausedAt = whole.totalMs - whole.downtimeMs;
    const source = new ScriptedSource(rewriting(8));
    const { result, records } = run(source, { cost: SLOW, downtimeLimitMs: 1, maxRounds: 3, cancelAfterMs: pausedAt });
    expect(result.status).toBe('cancelled');
    expect(result.rounds).toBe(whole.rounds);
    expect(source.pauses).toBe(1);
    expect(source.resumes).toBe(1);
    expect(records.some((r) => r.type === 'END')).toBe(false);
  });

  it('a channel that fails while the guest runs: a typed failure, no pause, no downtime', () => {
    const source = new ScriptedSource();
    const cause = new Error('link down');
    const { result } = run(source, {
      sink: (chunk) => {
        if (chunk[0] === 4) throw cause; // the first ROUND record
      },
    });
    expect(result.status).toBe('failed');
    expect(result.error).toBeInstanceOf(MigrationError);
    expect(result.error?.kind).toBe('source-failed');
    expect(result.error?.name).toBe('MigrationError');
    expect(result.error?.message).toBe('migration failed in round 1: link down');
    expect(result.error?.cause).toBe(cause);
    expect(source.pauses).toBe(0);
    expect(source.resumes).toBe(0);
    expect(result.downtimeMs).toBe(0);
  });

  it('a channel that fails after the pause: the source resumes once, downtime counted', () => {
    const source = new ScriptedSource();
    const { result } = run(source, {
      sink: (chunk) => {
        if (chunk[0] === 5) throw new Error('link down'); // the END record
      },
    });
    expect(result.status).toBe('failed');
    expect(result.error?.message).toBe('migration failed in round 2: link down');
    expect(source.pauses).toBe(1);
    expect(source.resumes).toBe(1);
    expect(result.downtimeMs).toBeGreaterThan(0);
  });
});

describe('hand-off to postcopy', () => {
  it('stops after the rounds asked for and sends what is left instead of it', () => {
    const source = new ScriptedSource(rewriting(8));
    const { result, records } = run(source, { cost: SLOW, downtimeLimitMs: 1, handOffAfterRounds: 2 });
    expect(result.status).toBe('completed');
    expect(result.rounds).toBe(2);
    expect(result.handOff?.remaining.count).toBe(8);
    expect(source.pauses).toBe(1);
    const postcopy = records.find((r) => r.type === 'DEVICE' && r.name === 'postcopy');
    expect(postcopy).toEqual({ type: 'DEVICE', name: 'postcopy', state: { remaining: [[0, 8]], hintedClean: [] } });
    // After the pause only device state and the end go: postcopy brings the pages.
    const afterPause = records.slice(records.findIndex((r) => r.type === 'DEVICE'));
    expect(afterPause.map((r) => r.type)).toEqual(['DEVICE', 'END']);
  });
});

describe('overlays', () => {
  function withOverlays(): ScriptedSource {
    const source = new ScriptedSource();
    source.overlays = new OverlayManager(source.memory);
    source.overlays.add(1, { kind: 'hypercall', params: [7] });
    return source;
  }
  const overlayRecord = (records: StreamRecord[]) =>
    records.find((r): r is Extract<StreamRecord, { type: 'DEVICE' }> => r.type === 'DEVICE' && r.name === 'overlays')?.state as { mode: string; pages: OverlayPageState[] };

  it('drop-at-pause (the default) removes them before the final round and sends parameters only', () => {
    const source = withOverlays();
    const { records } = run(source);
    const state = overlayRecord(records);
    expect(state.mode).toBe('drop-at-pause');
    expect(state.pages).toEqual([{ pfn: 1, overlays: [{ kind: 'hypercall', params: [7] }] }]);
    expect(source.overlays?.pfns()).toEqual([]);
  });

  it('ship-originals keeps them on the source and ships the originals', () => {
    const source = withOverlays();
    const { records } = run(source, { overlayMode: 'ship-originals' });
    const state = overlayRecord(records);
    expect(state.mode).toBe('ship-originals');
    expect(state.pages[0]?.original).toBe('zero');
    expect(source.overlays?.pfns()).toEqual([1]);
  });

  it('a hand-off carries the overlays too', () => {
    const source = withOverlays();
    const { result, records } = run(source, { handOffAfterRounds: 1 });
    expect(result.handOff).toBeDefined();
    expect(overlayRecord(records)?.pages.map((p) => p.pfn)).toEqual([1]);
  });

  it('a failure after the pause in ship-originals mode leaves the overlays as they were', () => {
    const source = withOverlays();
    const before = source.memory.read(PAGE_SIZE, PAGE_SIZE);
    const { result } = run(source, {
      overlayMode: 'ship-originals',
      sink: (chunk) => {
        if (chunk[0] === 5) throw new Error('link down');
      },
    });
    expect(result.status).toBe('failed');
    expect(source.overlays?.pfns()).toEqual([1]);
    expect(Buffer.compare(source.memory.read(PAGE_SIZE, PAGE_SIZE), before)).toBe(0);
  });

  it('no overlay record without overlays', () => {
    expect(overlayRecord(run(new ScriptedSource()).records)).toBeUndefined();
  });
});

describe('the safe precopy rules', () => {
  const batch: HintBatch = { cmdId: 7, ranges: [{ gpa: 0, length: PAGE_SIZE }] };
  function window(open: boolean, cmdId: number | undefined) {
    const cleared: HintBatch[] = [];
    const w: HintWindowView = { open, cmdId, clear: (b) => cleared.push(b) };
    return { w, cleared };
  }

  it('a hint clears bits only while its own round’s window is open', () => {
    for (const [open, cmdId, clears] of [
      [true, 7, 1],
      [false, 7, 0],
      [true, 8, 0],
      [true, undefined, 0],
    ] as const) {
      const { w, cleared } = window(open, cmdId);
      SAFE_PRECOPY_RULES.onHint(batch, w);
      expect(cleared.length, `open=${open} cmdId=${cmdId}`).toBe(clears);
    }
  });

  it('zero pages may be skipped only in round 1 onto a fresh destination', () => {
    expect(SAFE_PRECOPY_RULES.maySkipZero(1, true)).toBe(true);
    expect(SAFE_PRECOPY_RULES.maySkipZero(2, true)).toBe(false);
    expect(SAFE_PRECOPY_RULES.maySkipZero(1, false)).toBe(false);
  });

  it('pages written since their hint are no longer hinted-clean', () => {
    const clean = new PageBitmap(64);
    clean.addRange(0, 40);
    const dirty = new Uint32Array(2);
    dirty[0] = 0b1010;
    dirty[1] = 1;
    SAFE_PRECOPY_RULES.forgetWritten(clean, dirty);
    expect(clean.count).toBe(37);
    expect(clean.has(1)).toBe(false);
    expect(clean.has(32)).toBe(false);
    expect(clean.has(2)).toBe(true);
  });
});

/** Count the host's hint commands to the device. */
function countHintCommands(device: BalloonDevice): { start: number; stop: number; done: number } {
  const calls = { start: 0, stop: 0, done: 0 };
  const { startHinting, stopHinting, doneHinting } = device;
  device.startHinting = () => (calls.start++, startHinting.call(device));
  device.stopHinting = () => (calls.stop++, stopHinting.call(device));
  device.doneHinting = () => (calls.done++, doneHinting.call(device));
  return calls;
}

describe('hinting with a real guest', () => {
  it("without 'hint' no hint round starts and no page is hinted; with it, hints count pages and ranges", () => {
    const vm = busyGuest(3);
    vm.run(5);
    let ids = 0;
    vm.device.hints$.subscribe(() => ids++);
    const calls = countHintCommands(vm.device);
    const plain = migrate(vm, freshDestination(3), { strategies: 'zero' });
    expect(plain.result).toMatchObject({ hintedPages: 0, hintedRanges: 0 });
    expect(ids).toBe(0);
    expect(calls).toMatchObject({ start: 0, stop: 0 });

    const vm2 = busyGuest(3);
    vm2.run(5);
    const seen = { pages: 0, ranges: 0 };
    vm2.device.hints$.subscribe((b) => {
      seen.ranges += b.ranges.length;
      for (const r of b.ranges) seen.pages += r.length / PAGE_SIZE;
    });
    const calls2 = countHintCommands(vm2.device);
    const destination2 = freshDestination(3);
    const hinted = migrate(vm2, destination2, { strategies: 'zero+hint' });
    expect(hinted.error).toBeUndefined();
    expect(lostPages(vm2, destination2)).toEqual([]);
    // QEMU's notifier: STOP before every sync; a new id after each sync with the VM running
    // (setup and every precopy round); DONE at the final sync, with the VM stopped.
    expect(calls2.stop).toBe(hinted.result.rounds + 1);
    expect(calls2.start).toBe(hinted.result.rounds);
    expect(calls2.done).toBeGreaterThanOrEqual(1);

    // Handing off to postcopy ends hinting the same way: the last sync, VM stopped, says DONE.
    // There is no stop-and-copy round: a new id after setup and after each precopy round.
    const vm3 = busyGuest(3, { workload: idle() }); // idle: hinted blocks stay clean
    vm3.run(5);
    const hintedPfns = new Set<number>();
    vm3.device.hints$.subscribe((b) => {
      for (const r of b.ranges) for (let p = r.gpa / PAGE_SIZE; p < (r.gpa + r.length) / PAGE_SIZE; p++) hintedPfns.add(p);
    });
    const calls3 = countHintCommands(vm3.device);
    const handedOff = migrate(vm3, freshDestination(3), { strategies: 'zero+hint', handOffAfterRounds: 2, downtimeLimitMs: 0 });
    expect(handedOff.result.handOff).toBeDefined();
    expect(calls3.start).toBe(handedOff.result.rounds + 1);
    expect(calls3.stop).toBe(handedOff.result.rounds + 2);
    // Hinted-clean pages are hinted pages, nothing more.
    const clean = handedOff.result.handOff!.hintedClean;
    expect(clean.count).toBeGreaterThan(0);
    for (const [first, count] of clean.runs()) for (let p = first; p < first + count; p++) expect(hintedPfns.has(p)).toBe(true);
    expect(hinted.result.hintedRanges).toBeGreaterThan(0);
    expect(hinted.result.hintedRanges).toBeLessThanOrEqual(seen.ranges);
    expect(hinted.result.hintedPages).toBeGreaterThan(0);
    // A hint clears only bits still set: never more pages than were hinted, or than RAM has.
    expect(hinted.result.hintedPages).toBeLessThanOrEqual(seen.pages);
  });
});

describe('a hint clears exactly its own pages', () => {
  // A guest behind the real balloon protocol that reports one free range in the first round,
  // below a page it uses: the hint must not take that page with it.
  const HINT_GPA = 12 * MiB;
  const HINT_PAGES = 16;
  const USED_PFN = (14 * MiB) / PAGE_SIZE;

  class HintingSource implements MigrationSource {
    readonly r = rig({ freePageHint: true });
    readonly memory = this.r.memory;
    readonly device = this.r.device;
    readonly hints = this.device;
    readonly reportsFreePages = false;
    private hinted = false;

    constructor() {
      this.memory.fill(USED_PFN * PAGE_SIZE, PAGE_SIZE, 0x77);
    }

    step(): number {
      const id = this.r.driver.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID);
      // Once, in the first step of the first hint round (ids 0 and 1 are STOP and DONE).
      if (!this.hinted && id > CMD_ID_DONE) {
        this.hinted = true;
        this.memory.writeU32(BUF, id);
        const queue = this.r.queues.freePage!;
        queue.add([{ gpa: BUF, length: 4 }], [], 0);
        queue.add([], [{ gpa: HINT_GPA, length: HINT_PAGES * PAGE_SIZE }], 0);
        this.r.driver.kick(this.device.queueIndex('freePage')!, queue);
      }
      return 1;
    }
    pause(): void {}
    resume(): void {}
    deviceStates(): Record<string, unknown> {
      return {};
    }
  }

  function migrateHinting(handOffAfterRounds?: number) {
    const source = new HintingSource();
    const destination = new Destination(new FlatMemory(source.memory.end));
    const incoming = destination.incoming();
    const engine = new PrecopyMigration(source, {
      strategies: strategySet('zero+hint'),
      destinationFresh: true,
      sink: (chunk) => incoming.push(chunk),
      ...(handOffAfterRounds !== undefined ? { handOffAfterRounds } : {}),
    });
    const result = engine.run();
    return { source, destination, incoming, result };
  }

  it('the pages after a hinted range are still sent', () => {
    const { source, destination, incoming, result } = migrateHinting();
    incoming.finish();
    expect(result.hintedPages).toBe(HINT_PAGES);
    expect(result.hintedRanges).toBe(1);
    expect(Buffer.compare(destination.memory.read(USED_PFN * PAGE_SIZE, PAGE_SIZE), source.memory.read(USED_PFN * PAGE_SIZE, PAGE_SIZE))).toBe(0);
  });

  it('the hand-off lists the hinted range as clean, and nothing else', () => {
    const { result } = migrateHinting(1);
    expect(result.handOff?.hintedClean.runs()).toEqual([[HINT_GPA / PAGE_SIZE, HINT_PAGES]]);
  });
});
