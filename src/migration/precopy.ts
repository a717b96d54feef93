/** The precopy engine: QEMU's RAM migration loop over one channel — rounds of dirty pages, bitmap syncs, convergence, stop and copy, or a hand-off to postcopy. */
import { Subject, type Observable } from 'rxjs';
import { PAGE_SIZE } from '../memory/guest-memory.js';
import { PageBitmap } from '../memory/page-bitmap.js';
import { DEFAULT_COST_MODEL, SimClock, TransferMeter, type CostModel } from './cost-model.js';
import { MigrationError } from './errors.js';
import { HintWindow } from './hint-window.js';
import { HostCpus } from './host-cpus.js';
import { HAND_OFF_RECORD, type HandOff, type MigrationResult, type MigrationSource, type RoundProgress } from './migration-source.js';
import type { OverlayMode, OverlayPageState } from './overlay.js';
import { PageSender, type ZeroPolicy } from './page-sender.js';
import { SAFE_PRECOPY_RULES, type PrecopySafetyRules } from './safety-rules.js';
import { StrategyError, type StrategySet } from './strategies.js';
import { StreamWriter, type ByteSink } from './stream.js';

/** Simulated time one batch of pages covers at least: one guest step, so the guest runs between batches. */
const BATCH_MS = 1;
/** How far ahead a batch may read while the guest is quiet: a bound on one batch's work. */
const MAX_QUIET_BATCH_MS = 1000;
/** QEMU's default downtime-limit, ms. */
export const DEFAULT_DOWNTIME_LIMIT_MS = 300;
/**
 * QEMU's MAX_WAIT: a pass returns to the migration loop at least this often (or when the rate
 * limit stops it), and the loop checks whether what is left fits the downtime limit.
 */
const CHECK_MS = 50;

/** How a pass over the bitmap ended. */
type PassEnd = 'done' | 'converging' | 'cancelled';

/** A precopy migration: strategies, where the stream goes, whether the destination is fresh, costs and limits. */
export interface PrecopyOptions {
  readonly strategies: StrategySet;
  readonly sink: ByteSink;
  readonly destinationFresh: boolean;
  readonly cost?: Partial<CostModel>;
  /** Switch over when the remaining dirty pages can be sent within this (QEMU: downtime-limit). */
  readonly downtimeLimitMs?: number;
  readonly maxRounds?: number;
  /** Cancel the migration once this much simulated time has passed (fault injection). */
  readonly cancelAfterMs?: number;
  /** How overlay pages travel (default drop-at-pause). */
  readonly overlayMode?: OverlayMode;
  /** The safety rules (tests pass broken ones); {@link SAFE_PRECOPY_RULES} by default. */
  readonly rules?: PrecopySafetyRules;
  /** The host's cores, shared with the guest's vCPUs (which say how many of them run); none: no contention. */
  readonly host?: HostCpus;
  /**
   * Hand the migration to postcopy after this many rounds instead of stopping to copy: the VM
   * stops, the last sync runs, and instead of the remaining pages the stream carries what is
   * left to send and which hinted pages nothing wrote since (see {@link HandOff}).
   */
  readonly handOffAfterRounds?: number;
}

/**
 * Precopy live migration (QEMU's RAM migration, one channel): all pages start dirty, dirty
 * logging runs, and each round sends the dirty pages, then syncs the dirty log into the bitmap,
 * until what is left fits the downtime limit. Then the VM stops, a final sync runs, the rest is
 * sent with the device state, and the stream ends. Free page hinting follows QEMU's precopy
 * notifier: stop before every sync, start after it while the VM runs, DONE at the final sync and
 * at cleanup; a hint clears only the current round's bitmap bits.
 */
export class PrecopyMigration {
  readonly progress$: Observable<RoundProgress>;
  readonly #progress$ = new Subject<RoundProgress>();
  private readonly bitmap: PageBitmap;
  private readonly clock: SimClock;
  private readonly writer: StreamWriter;
  private readonly rules: PrecopySafetyRules;
  private readonly cost: CostModel;
  /** Where hints meet the bitmap. */
  private readonly hints: HintWindow;
  private readonly sender: PageSender;
  /** Overlays removed at pause (drop-at-pause), put back if the migration fails after that. */
  private droppedOverlays: OverlayPageState[] | undefined;
  private syncs = 0;
  /** QEMU's transfer counters: the bandwidth it measures and its rate limit. */
  private readonly meter: TransferMeter;
  private readonly host: HostCpus;

  constructor(
    private readonly source: MigrationSource,
    private readonly options: PrecopyOptions,
  ) {
    this.progress$ = this.#progress$.asObservable();
    this.cost = { ...DEFAULT_COST_MODEL, ...options.cost };
    this.rules = options.rules ?? SAFE_PRECOPY_RULES;
    this.bitmap = new PageBitmap(source.memory.end / PAGE_SIZE);
    // Stryker disable next-line ConditionalExpression,ArithmeticOperator: an unused or oversized hinted-clean bitmap only costs memory
    const cleanPages = options.handOffAfterRounds === undefined ? 0 : source.memory.end / PAGE_SIZE;
    this.hints = new HintWindow(source.hints, this.bitmap, this.rules, options.strategies.hint, cleanPages);
    this.clock = new SimClock(this.cost, (maxMs) => source.step(maxMs));
    this.meter = new TransferMeter(this.cost.maxBandwidth);
    this.host = options.host ?? new HostCpus(Number.MAX_SAFE_INTEGER);
    this.writer = new StreamWriter(options.sink);
    this.sender = new PageSender(source.memory, this.writer, this.clock, source.overlays);
  }

  run(): MigrationResult {
    const { memory } = this.source;
    if (this.options.strategies.report && !this.source.reportsFreePages) {
      throw new StrategyError("'report' needs a guest that negotiated free page reporting");
    }
    this.hints.begin();
    this.setRunning(true);
    let round = 0;
    let pausedAt: number | undefined;
    try {
      // Setup: every RAM page is dirty; logging starts from a clean log.
      for (const r of memory.regions) this.bitmap.addRange(r.gpa / PAGE_SIZE, r.size / PAGE_SIZE);
      memory.dirtyLog.disable();
      memory.dirtyLog.enable();
      this.writer.header(memory.end);
      this.sync(true);

      const maxRounds = this.options.maxRounds ?? 30;
      const limitMs = this.options.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS;
      for (;;) {
        round++;
        this.writer.round(round);
        if (this.sendDirty(round, limitMs) === 'cancelled') return this.cancel(round);
        this.sync(true);
        this.meter.update(this.clock.nowMs, this.sender.wireBytes);
        this.#progress$.next({ round, remainingPages: this.bitmap.count, bytes: this.sender.wireBytes, simulatedMs: this.clock.nowMs });
        if (this.fits(limitMs) || round >= maxRounds || round >= (this.options.handOffAfterRounds ?? Number.POSITIVE_INFINITY)) break;
      }
      if (this.options.handOffAfterRounds !== undefined) return this.handOff(round);

      // Stop and copy: vCPUs, then devices; then overlays, which must not change under a vCPU.
      pausedAt = this.clock.nowMs;
      this.source.pause();
      const overlays = this.takeOverlays();
      this.sync(false);
      round++;
      this.writer.round(round);
      // QEMU lifts the rate limit for the stop-and-copy round.
      if (this.sendDirty(round, undefined) === 'cancelled') {
        // Cancelled during stop-and-copy: no end record goes out, and the source runs on.
        this.resumeSource();
        return this.cancel(round);
      }
      for (const [name, state] of Object.entries(this.source.deviceStates())) this.sendRecord(this.writer.device(name, state));
      if (overlays) this.sendRecord(this.writer.device('overlays', overlays));
      this.sendRecord(this.writer.end());
      this.#progress$.next({ round, remainingPages: 0, bytes: this.sender.wireBytes, simulatedMs: this.clock.nowMs });
      return this.result('completed', round, pausedAt);
    } catch (error) {
      // The source side failed (its channel, its device state): the guest keeps running with
      // everything it had, overlays included; the destination never sees an end record.
      if (pausedAt !== undefined) this.resumeSource();
      const failure = new MigrationError('source-failed', `migration failed in round ${round}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      return { ...this.result('failed', round, pausedAt ?? this.clock.nowMs), error: failure };
    } finally {
      this.setRunning(false);
      this.hints.end();
      memory.dirtyLog.disable();
      this.#progress$.complete();
    }
  }

  /**
   * BEFORE_BITMAP_SYNC → sync → AFTER_BITMAP_SYNC: the hint window closes before the dirty log
   * is merged and opens on a new round after it — or, with the VM stopped (the final sync), DONE.
   */
  private sync(vmRunning: boolean): void {
    const { memory } = this.source;
    this.hints.beforeSync(memory.dirtyLog.words);
    memory.dirtyLog.drain((w, word) => this.bitmap.addWord(w, word));
    this.clock.sync(memory.ramSize);
    this.syncs++;
    this.hints.afterSync(vmRunning);
  }

  /**
   * Overlay parameters for the device state. drop-at-pause removes the overlays now, so the
   * final round sends the originals as RAM; ship-originals keeps them and ships the originals.
   */
  private takeOverlays(): { mode: OverlayMode; pages: OverlayPageState[] } | undefined {
    const overlays = this.source.overlays;
    if (overlays === undefined || overlays.pfns().length === 0) return undefined;
    const mode = this.options.overlayMode ?? 'drop-at-pause';
    const pages = overlays.save(mode === 'ship-originals');
    if (mode === 'drop-at-pause') {
      this.droppedOverlays = pages;
      this.rules.dropOverlays(overlays);
    }
    return { mode, pages };
  }

  /**
   * QEMU's switchover test: what is left, every dirty page counted whole, goes in less than the
   * downtime limit at the bandwidth the thread measured over its last period. That bandwidth is
   * bytes over elapsed time, so it counts the reading as well as the wire (and it is low while
   * the thread reads zero pages, which keeps QEMU from switching over on their account).
   */
  private fits(limitMs: number): boolean {
    const pending = this.bitmap.count * PAGE_SIZE;
    return pending === 0 || pending < this.meter.bytesPerMs * limitMs;
  }

  /**
   * One pass: send every page whose bit is set, in address order, in batches worth one guest
   * step of simulated time — or, while the guest is quiet, as far as its next step that does
   * something to the pages the batch reads (a write below them does not count): reading page by
   * page would find nothing changed before then. A batch takes dirty runs one after another, as
   * the migration thread walks the bitmap. It is read and its bits cleared at one instant,
   * before the guest runs again, so a write after that shows up dirty (H13); then its cost is
   * charged and the guest runs in that time.
   *
   * While the guest runs (`limitMs` given), the pass follows QEMU's migration loop: the rate
   * limit stops a batch when the period's bytes are spent and the thread sleeps to the period's
   * end while the guest runs, so reading and sending overlap; and at least every 50 ms, or when
   * the limit stopped it, the thread checks whether what is left fits the downtime limit, and
   * ends the pass early if it does ('converging': the caller syncs and decides). The
   * stop-and-copy pass (no `limitMs`) is neither limited nor checked.
   */
  private sendDirty(round: number, limitMs: number | undefined): PassEnd {
    const { detectZero, skipZeroInFirstRound } = this.options.strategies;
    const policy = { detectZero, skipZero: skipZeroInFirstRound && this.rules.maySkipZero(round, this.options.destinationFresh) };
    const cancelAt = this.options.cancelAfterMs ?? Number.POSITIVE_INFINITY;
    const running = limitMs !== undefined;
    try {
      for (let first = this.bitmap.nextSet(0); first >= 0; ) {
        // One turn of QEMU's migration loop: counters, the rate limit, the switchover test, then
        // pages until the period's bytes are spent or 50 ms have passed.
        const now = this.clock.nowMs;
        if (now >= cancelAt) return 'cancelled';
        let turnEnd = Number.POSITIVE_INFINITY;
        if (running) {
          this.meter.update(now, this.sender.wireBytes);
          if (this.meter.room(this.sender.wireBytes) <= 0) {
            // The period's bytes are spent: sleep to its end (or the cancel instant); the guest runs.
            this.setRunning(false);
            this.clock.charge(Math.min(this.meter.waitMs(now), cancelAt - now));
            this.setRunning(true);
            continue;
          }
          if (this.fits(limitMs)) return 'converging';
          turnEnd = now + CHECK_MS;
        }
        first = this.sendTurn(first, policy, cancelAt, turnEnd, running);
      }
      return 'done';
    } finally {
      this.sender.flush();
    }
  }

  /**
   * Batches from `first` on until the turn ends (`turnEnd`), the rate limit's room is spent, the
   * cancel instant passes or no dirty page is left; returns the next dirty page (-1: none). A
   * batch never reads past the turn's end, so a quiet guest's long batches end the turn at the
   * same page as step-long ones would.
   */
  private sendTurn(first: number, policy: ZeroPolicy, cancelAt: number, turnEnd: number, limited: boolean): number {
    if (limited && this.cost.bitmapLock === 'per-iteration') this.hints.lockBitmap();
    try {
      return this.sendBatches(first, policy, cancelAt, turnEnd, limited);
    } finally {
      this.hints.unlockBitmap();
    }
  }

  private sendBatches(first: number, policy: ZeroPolicy, cancelAt: number, turnEnd: number, limited: boolean): number {
    do {
      const now = this.clock.nowMs;
      // The thread's share of a core for this batch, with the vCPUs that run now.
      this.clock.speed = this.host.share;
      const room = limited ? this.meter.room(this.sender.wireBytes) : Number.POSITIVE_INFINITY;
      // The guest's quiet is counted from its own clock, which may be ahead of now. The batch
      // reads from `first` on: the guest's writes below it do not end its quiet.
      const quietMs = (this.source.quietMs?.(MAX_QUIET_BATCH_MS, first) ?? 0) + this.clock.guestLeadMs;
      const budget = Math.min(Math.max(BATCH_MS, Math.min(quietMs, cancelAt - now)), turnEnd - now);
      // Every page costs at least its read, so the search for the end of a dirty run can stop here.
      // Stryker disable next-line ArithmeticOperator: a run cut short by the span goes on in the same batch
      const span = Math.ceil(budget / this.clock.scanMs(PAGE_SIZE)) + 2;
      const bytesBefore = this.sender.wireBytes;
      let batchMs = 0;
      for (;;) {
        const end = this.bitmap.nextClear(first, first + span);
        const { next, ms } = this.sender.send(first, end, policy, budget - batchMs, room - (this.sender.wireBytes - bytesBefore));
        this.bitmap.deleteRange(first, next - first);
        batchMs += ms;
        first = this.bitmap.nextSet(next);
        // Stryker disable next-line EqualityOperator: `first` is past the batch's first page here, never 0; at batchMs == budget the next page would only join this batch rather than the next, and float costs never meet a budget exactly
        if (first < 0 || batchMs >= budget || this.sender.wireBytes - bytesBefore >= room) break;
      }
      this.clock.charge(batchMs);
    } while (first >= 0 && this.clock.nowMs < turnEnd && this.clock.nowMs < cancelAt && (!limited || this.meter.room(this.sender.wireBytes) > 0));
    return first;
  }

  /**
   * Stop, sync, and send the device state with what postcopy will bring instead of the rest:
   * the destination applies this stream and resumes the guest, then pulls the remaining pages.
   */
  private handOff(round: number): MigrationResult {
    const pausedAt = this.clock.nowMs;
    this.source.pause();
    const overlays = this.takeOverlays();
    this.sync(false);
    const handOff: HandOff = { remaining: this.bitmap, hintedClean: this.hints.hintedClean };
    for (const [name, state] of Object.entries(this.source.deviceStates())) this.sendRecord(this.writer.device(name, state));
    if (overlays) this.sendRecord(this.writer.device('overlays', overlays));
    this.sendRecord(this.writer.device(HAND_OFF_RECORD, { remaining: this.bitmap.runs(), hintedClean: this.hints.hintedClean.runs() }));
    this.sendRecord(this.writer.end());
    return { ...this.result('completed', round, pausedAt), handOff };
  }

  /** The migration thread, and what consumes its stream, start or stop running on the host. */
  private setRunning(running: boolean): void {
    this.host.migrationThreads = running ? 1 + this.cost.sinkThreads : 0;
  }

  /** Count `bytes` as sent on the wire; returns the time that takes. */
  private wire(bytes: number): number {
    this.sender.wireBytes += bytes;
    return this.clock.sendMs(bytes);
  }

  /** Send a record as it is (device state, end) and charge it. */
  private sendRecord(bytes: number): void {
    this.clock.charge(this.wire(bytes));
  }

  /** After a stop that did not end in a switchover: overlays back (if dropped), then the guest. */
  private resumeSource(): void {
    // Stryker disable next-line OptionalChaining: overlays were dropped only if the source has them
    if (this.droppedOverlays) this.source.overlays?.restore(this.droppedOverlays);
    this.droppedOverlays = undefined;
    this.source.resume();
  }

  private cancel(round: number): MigrationResult {
    // Whatever was not sent stays the source's; the guest keeps running.
    return this.result('cancelled', round, this.clock.nowMs);
  }

  private result(status: MigrationResult['status'], rounds: number, pausedAt: number): MigrationResult {
    const downtimeMs = this.clock.nowMs - pausedAt;
    return {
      status,
      rounds,
      syncs: this.syncs,
      totalMs: this.clock.nowMs,
      downtimeMs,
      downtimeLimitMet: downtimeMs <= (this.options.downtimeLimitMs ?? DEFAULT_DOWNTIME_LIMIT_MS),
      bytes: this.sender.wireBytes,
      records: this.writer.records,
      ...this.sender.counts,
      hintedPages: this.hints.hintedPages,
      hintedRanges: this.hints.hintedRanges,
    };
  }
}
