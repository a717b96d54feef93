/** The virtio balloon device (virtio 1.2 §5.5): inflate, deflate, stats, free page hints and free page reporting. */
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { PageBitmap } from '../../memory/page-bitmap.js';
import { DeviceId, Feature, Status, featureBit, hasFeature } from '../constants.js';
import type { ChainLimits, DescriptorChain, Segment } from '../descriptor-chain.js';
import { VirtioDevice } from '../device.js';
import { VirtioError } from '../errors.js';
import { BALLOON_PAGE_SIZE, BalloonConfig, BalloonFeature, DEFAULT_QUEUE_SIZES, STAT_ENTRY_SIZE, STAT_TAGS, type BalloonQueueRole, type StatName } from './constants.js';
import { BALLOON_CHAIN_LIMITS } from './chain-limits.js';
import { parseBalloonState, type BalloonState } from './balloon-state.js';
import { FreePageHint, type HintState } from './free-page-hint.js';
import { wholePages, type PageRange } from './ranges.js';

export type { BalloonQueueRole };

/** The optional features a balloon device offers (each only when asked for), its ring features and queue sizes. */
export interface BalloonOptions {
  /** Each optional feature is offered only when asked for. */
  readonly mustTellHost?: boolean;
  readonly statsQueue?: boolean;
  readonly deflateOnOom?: boolean;
  readonly freePageHint?: boolean;
  readonly pagePoison?: boolean;
  readonly pageReporting?: boolean;
  /** Offer VIRTIO_F_INDIRECT_DESC / VIRTIO_F_EVENT_IDX (default: both, as QEMU does). */
  readonly indirectDesc?: boolean;
  readonly eventIdx?: boolean;
  /**
   * Offer VIRTIO_F_RING_PACKED (default: no, as QEMU's `packed=off`): a driver that takes it
   * sets every queue up as a packed ring (§2.8) instead of a split one.
   */
  readonly packedRing?: boolean;
  /** Queue sizes; QEMU's by default. */
  readonly queueSizes?: Partial<Record<BalloonQueueRole, number>>;
  /** Never discard memory (QEMU: RAM discard disabled, incoming postcopy, background snapshot). */
  readonly discardInhibited?: boolean;
  /** The hint protocol state machine; tests substitute broken ones to show the properties catch them. */
  readonly hintProtocol?: FreePageHint;
}

/** A batch of free page hints, all under one command id, in one START window. */
export interface HintBatch {
  readonly cmdId: number;
  readonly ranges: readonly PageRange[];
}

/** One stats report: the tags the driver sent, by name, in bytes or counts. */
export type BalloonStats = Partial<Record<StatName, number>>;

export type { BalloonState };

/** What the device counted of a driver's odd but harmless requests. */
export interface BalloonCounters {
  /** Inflate/deflate PFNs that are not guest RAM (skipped, as QEMU does). */
  nonRamPfns: number;
  /** Pages deflated below the target without DEFLATE_ON_OOM (§5.5.6.1: not allowed). */
  unrequestedDeflates: number;
  /** Stats entries with a tag above 15 (ignored). */
  unknownStatTags: number;
  /** A second stats buffer while one was held (the old one is returned, as QEMU does). */
  extraStatsBuffers: number;
  /** Hint ranges that covered no whole page. */
  emptyHints: number;
}

/** The balloon queue roles that exist under `features`, in Linux's compacted numbering (H20). */
export function balloonQueueRoles(features: bigint): BalloonQueueRole[] {
  const roles: BalloonQueueRole[] = ['inflate', 'deflate'];
  if (hasFeature(features, BalloonFeature.STATS_VQ)) roles.push('stats');
  if (hasFeature(features, BalloonFeature.FREE_PAGE_HINT)) roles.push('freePage');
  if (hasFeature(features, BalloonFeature.PAGE_REPORTING)) roles.push('reporting');
  return roles;
}

const U32 = 0x1_0000_0000;

/**
 * The virtio memory balloon (device id 5, virtio 1.2 §5.5): inflate/deflate, stats,
 * deflate-on-OOM, free page hinting by command id, page poison and free page reporting.
 * Transport-agnostic: put it behind an {@link MmioTransport} (or the PCI one) and subscribe to
 * its Observables. Hints are published synchronously, inside the START window they belong to.
 */
export class BalloonDevice extends VirtioDevice {
  readonly deviceId = DeviceId.BALLOON;
  readonly balloonCounters: BalloonCounters = {
    nonRamPfns: 0,
    unrequestedDeflates: 0,
    unknownStatTags: 0,
    extraStatsBuffers: 0,
    emptyHints: 0,
  };

  #numPages = 0;
  #poisonVal = 0;
  #discardInhibited: boolean;
  #statsHead: number | undefined;
  readonly #hint: FreePageHint;
  readonly #inflated: PageBitmap;
  // Stryker disable next-line ObjectLiteral: an empty cache is rebuilt on first use
  #roles: { readonly features: bigint; readonly roles: readonly BalloonQueueRole[] } = { features: 0n, roles: balloonQueueRoles(0n) };
  readonly #sizes: Record<BalloonQueueRole, number>;

  readonly #actual$ = new BehaviorSubject<number>(0);
  readonly #inflate$ = new Subject<readonly number[]>();
  readonly #deflate$ = new Subject<readonly number[]>();
  readonly #stats$ = new Subject<BalloonStats>();
  readonly #hints$ = new Subject<HintBatch>();
  readonly #reported$ = new Subject<readonly PageRange[]>();
  readonly #hintState$ = new BehaviorSubject<HintState>('stop');

  /** `actual` as the driver last wrote it (pages in the balloon, 4 KiB units). */
  readonly actual$: Observable<number> = this.#actual$.asObservable();
  /** 4 KiB PFNs of each inflate buffer, after the device acted on them. */
  readonly inflate$: Observable<readonly number[]> = this.#inflate$.asObservable();
  /** 4 KiB PFNs of each deflate buffer. */
  readonly deflate$: Observable<readonly number[]> = this.#deflate$.asObservable();
  /** Each stats report the driver sent. */
  readonly stats$: Observable<BalloonStats> = this.#stats$.asObservable();
  /** Free page hints under the current command id, published while the state is START. */
  readonly hints$: Observable<HintBatch> = this.#hints$.asObservable();
  /** Reported free pages, published after they were discarded and before the driver is told. */
  readonly reported$: Observable<readonly PageRange[]> = this.#reported$.asObservable();
  /** The hint state machine's state, on every change. */
  readonly hintState$: Observable<HintState> = this.#hintState$.asObservable();

  constructor(memory: GuestMemory, options: BalloonOptions = {}) {
    const f = (on: boolean | undefined, bit: number): bigint => (on ? featureBit(bit) : 0n);
    super(
      memory,
      f(options.mustTellHost, BalloonFeature.MUST_TELL_HOST) |
        f(options.statsQueue, BalloonFeature.STATS_VQ) |
        f(options.deflateOnOom, BalloonFeature.DEFLATE_ON_OOM) |
        f(options.freePageHint, BalloonFeature.FREE_PAGE_HINT) |
        f(options.pagePoison, BalloonFeature.PAGE_POISON) |
        f(options.pageReporting, BalloonFeature.PAGE_REPORTING) |
        f(options.indirectDesc ?? true, Feature.INDIRECT_DESC) |
        f(options.eventIdx ?? true, Feature.EVENT_IDX) |
        f(options.packedRing, Feature.RING_PACKED),
    );
    this.#sizes = { ...DEFAULT_QUEUE_SIZES, ...options.queueSizes };
    this.#discardInhibited = options.discardInhibited ?? false;
    this.#hint = options.hintProtocol ?? new FreePageHint();
    this.#inflated = new PageBitmap(Math.ceil(memory.end / BALLOON_PAGE_SIZE));
    this.init();
  }

  // ---- host API ----

  /** The balloon target in 4 KiB pages (num_pages); the driver inflates or deflates toward it. */
  get target(): number {
    return this.#numPages;
  }

  setTarget(pages: number): void {
    if (!Number.isInteger(pages) || pages < 0 || pages >= U32) throw new RangeError(`balloon target ${pages} is not a u32 page count`);
    if (pages === this.#numPages) return;
    this.#numPages = pages;
    this.configChanged();
  }

  /** `actual` as last written by the driver. */
  get actual(): number {
    return this.#actual$.value;
  }

  /** Pages the device saw inflated and not deflated since. */
  get inflatedPages(): number {
    return this.#inflated.count;
  }

  isInflated(pfn: number): boolean {
    return this.#inflated.has(pfn);
  }

  get poisonVal(): number {
    return this.#poisonVal;
  }

  get hintState(): HintState {
    return this.#hint.state;
  }

  get hintCmdId(): number {
    return this.#hint.cmdId;
  }

  /** Which queue index serves which role, under the features in force (Linux's numbering). */
  get queueRoles(): readonly BalloonQueueRole[] {
    // Asked on every kick; the features change only at negotiation and reset.
    const features = this.activeFeatures;
    // Stryker disable next-line ConditionalExpression: rebuilding the roles every time gives the same roles
    if (this.#roles.features !== features) this.#roles = { features, roles: balloonQueueRoles(features) };
    return this.#roles.roles;
  }

  queueIndex(role: BalloonQueueRole): number | undefined {
    const i = this.queueRoles.indexOf(role);
    return i < 0 ? undefined : i;
  }

  /** Stop or allow discarding (inflate, reporting). */
  setDiscardInhibited(inhibited: boolean): void {
    this.#discardInhibited = inhibited;
  }

  /**
   * Ask the driver for a new hinting round (QEMU: after a bitmap sync, VM running). Returns the
   * new command id, or undefined when hinting is not possible (not negotiated, not live).
   */
  startHinting(): number | undefined {
    if (!this.isLive || !this.hasNegotiated(BalloonFeature.FREE_PAGE_HINT)) return undefined;
    const id = this.#hint.start();
    if (id !== undefined) this.hintChanged();
    return id;
  }

  /** End the round (QEMU: before a bitmap sync). No hint is published after this returns. */
  stopHinting(): void {
    if (this.#hint.stop()) this.hintChanged();
  }

  /** Hints are no longer needed; the driver frees every page it holds (QEMU: final sync, cleanup). */
  doneHinting(): void {
    if (this.#hint.done()) this.hintChanged();
  }

  /**
   * Give the held stats buffer back to the driver so it sends fresh stats. Returns false when
   * the device holds none (the driver has not sent one yet).
   */
  requestStats(): boolean {
    // The device holds a buffer only of a ready stats queue: disabling the queue (§4.2.2.2: it
    // is never touched then) or resetting the device forgets it, and a restore checks it.
    if (this.#statsHead === undefined || !this.isLive) return false;
    const index = this.queueIndex('stats')!;
    const head = this.#statsHead;
    this.#statsHead = undefined;
    this.guard(() => {
      this.queues[index]!.push(head, 0);
      this.signalUsed(index);
    });
    return true;
  }

  // ---- device type hooks ----

  get configSize(): number {
    // QEMU's sizes: the config ends after the last field an offered feature makes valid.
    if (hasFeature(this.offeredFeatures, BalloonFeature.PAGE_POISON)) return 16;
    if (hasFeature(this.offeredFeatures, BalloonFeature.FREE_PAGE_HINT)) return 12;
    return 8;
  }

  protected queueSizes(features: bigint): readonly number[] {
    return balloonQueueRoles(features).map((role) => this.#sizes[role]);
  }

  protected readConfigField(offset: number, size: number): number {
    const config = new DataView(new ArrayBuffer(16));
    config.setUint32(BalloonConfig.NUM_PAGES, this.#numPages, true);
    config.setUint32(BalloonConfig.ACTUAL, this.actual, true);
    config.setUint32(BalloonConfig.FREE_PAGE_HINT_CMD_ID, this.#hint.configValue, true);
    config.setUint32(BalloonConfig.POISON_VAL, this.#poisonVal, true);
    if (size === 1) return config.getUint8(offset);
    if (size === 2) return config.getUint16(offset, true);
    return config.getUint32(offset, true);
  }

  protected writeConfigField(offset: number, size: number, value: number): boolean {
    if (size !== 4) return false;
    if (offset === BalloonConfig.ACTUAL) {
      this.#actual$.next(value);
      return true;
    }
    // §5.5.6.6: poison_val is set before DRIVER_OK and fixed while DRIVER_OK is set.
    if (offset === BalloonConfig.POISON_VAL && !this.isDriverOk()) {
      this.#poisonVal = value;
      return true;
    }
    return false;
  }

  protected override chainLimits(index: number): ChainLimits {
    const role = this.queueRoles[index];
    // Stryker disable next-line ConditionalExpression: unreachable, the queues and their roles come from the same feature set
    return role === undefined ? BALLOON_CHAIN_LIMITS.inflate : BALLOON_CHAIN_LIMITS[role];
  }

  protected processQueue(index: number): void {
    const role = this.queueRoles[index];
    const queue = this.queues[index]!;
    switch (role) {
      case 'inflate':
      case 'deflate':
        for (let chain = this.nextChain(index); chain !== undefined; chain = this.nextChain(index)) {
          this.balloonPages(role, chain);
          queue.push(chain.head, 0);
        }
        return;
      case 'stats':
        for (let chain = this.nextChain(index); chain !== undefined; chain = this.nextChain(index)) this.receiveStats(index, chain);
        return;
      case 'freePage':
        this.processHints(index);
        return;
      case 'reporting':
        for (let chain = this.nextChain(index); chain !== undefined; chain = this.nextChain(index)) {
          this.receiveReport(chain);
          queue.push(chain.head, 0);
        }
        return;
      // Stryker disable next-line ConditionalExpression: unreachable, the queues and their roles come from the same feature set
      case undefined:
        return;
    }
  }

  protected override onQueueDisabled(index: number): void {
    // The held stats buffer belonged to the ring the driver just took down.
    if (this.queueRoles[index] === 'stats') this.#statsHead = undefined;
  }

  protected onReset(): void {
    // The target is the host's and survives; what the guest had ballooned is its own again.
    this.#poisonVal = 0;
    this.#statsHead = undefined;
    this.#inflated.clear();
    if (this.#actual$.value !== 0) this.#actual$.next(0);
    this.#hint.reset();
    this.#hintState$.next(this.#hint.state);
  }

  // ---- queue handlers ----

  /** Inflate or deflate: a device-readable array of le32 PFNs, 4 KiB units whatever the page size (§5.5.6.1, H21). */
  private balloonPages(role: 'inflate' | 'deflate', chain: DescriptorChain): void {
    if (chain.writable.length > 0 || chain.readableLength % 4 !== 0) {
      throw new VirtioError('bad-buffer', `${role} buffer must be a device-readable array of le32 PFNs (got ${chain.readableLength} readable, ${chain.writableLength} writable bytes)`);
    }
    const bytes = this.gather(chain.readable, chain.readableLength);
    // The page of PFNs read, and a page discarded (or a bit cleared) per PFN.
    this.spend(1 + bytes.length / 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pfns: number[] = [];
    // Stryker disable next-line ConditionalExpression: `discard` is read only on the inflate branch
    const discard = role === 'inflate' && !this.#discardInhibited;
    for (let at = 0; at < bytes.length; at += 4) {
      const pfn = view.getUint32(at, true);
      const gpa = pfn * BALLOON_PAGE_SIZE;
      // QEMU skips PFNs that are not RAM (ROM, MMIO, holes) rather than failing.
      if (!this.memory.contains(gpa, BALLOON_PAGE_SIZE)) {
        this.balloonCounters.nonRamPfns++;
        continue;
      }
      if (role === 'inflate') {
        this.#inflated.add(pfn);
        if (discard) this.memory.discard(gpa, BALLOON_PAGE_SIZE);
      } else {
        const tooFar = this.#inflated.count <= this.#numPages && !this.hasNegotiated(BalloonFeature.DEFLATE_ON_OOM);
        if (this.#inflated.delete(pfn) && tooFar) this.balloonCounters.unrequestedDeflates++;
      }
      pfns.push(pfn);
    }
    (role === 'inflate' ? this.#inflate$ : this.#deflate$).next(pfns);
  }

  /** A stats buffer: 10-byte entries; the device keeps it until it wants new stats (§5.5.6.3). */
  private receiveStats(index: number, chain: DescriptorChain): void {
    if (chain.writable.length > 0 || chain.readableLength % STAT_ENTRY_SIZE !== 0) {
      throw new VirtioError('bad-buffer', `stats buffer must be device-readable 10-byte entries (got ${chain.readableLength} readable, ${chain.writableLength} writable bytes)`);
    }
    const bytes = this.gather(chain.readable, chain.readableLength);
    this.spend(1 + bytes.length / STAT_ENTRY_SIZE);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const stats: BalloonStats = {};
    for (let at = 0; at < bytes.length; at += STAT_ENTRY_SIZE) {
      const tag = view.getUint16(at, true);
      const low = view.getUint32(at + 2, true);
      const high = view.getUint32(at + 6, true);
      const name = STAT_TAGS[tag];
      if (name === undefined) {
        this.balloonCounters.unknownStatTags++;
        continue;
      }
      if (high > 0x1fffff) throw new VirtioError('bad-value', `stat ${name} is above 2^53`);
      stats[name] = high * U32 + low;
    }
    if (this.#statsHead !== undefined) {
      // §5.5.6.3 allows one outstanding buffer; give the older one back as QEMU does.
      this.balloonCounters.extraStatsBuffers++;
      this.queues[index]!.push(this.#statsHead, 0);
    }
    this.#statsHead = chain.head;
    this.#stats$.next(stats);
  }

  /** The free page queue (§5.5.6.5, QEMU's virtio_ballloon_get_free_page_hints). */
  private processHints(index: number): void {
    const queue = this.queues[index]!;
    let batch: PageRange[] = [];
    const flush = (): void => {
      if (batch.length > 0) this.#hints$.next({ cmdId: this.#hint.cmdId, ranges: batch });
      batch = [];
    };
    // Hints from chains served before a bad one are still published: they were valid.
    try {
      for (let chain = this.nextChain(index); chain !== undefined; chain = this.nextChain(index)) {
        if (chain.readable.length > 0) {
          // H11: classify by direction; a command is exactly 4 bytes or the driver is broken.
          if (chain.readableLength !== 4) {
            throw new VirtioError('bad-buffer', `free page hint command is ${chain.readableLength} bytes, not 4`);
          }
          const bytes = this.gather(chain.readable, 4);
          this.spend(1);
          const before = this.#hint.state;
          this.#hint.command(new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true));
          if (this.#hint.state !== before) {
            // Hints gathered so far belong to the window that just closed.
            flush();
            this.#hintState$.next(this.#hint.state);
          }
        }
        if (this.#hint.acceptsHints) {
          for (const segment of chain.writable) {
            const range = wholePages(segment);
            if (range === undefined) this.balloonCounters.emptyHints++;
            else batch.push(range);
          }
          this.spend(chain.writable.length);
        }
        queue.push(chain.head, 0);
      }
    } finally {
      flush();
    }
  }

  /** Free page reporting: discard the pages before telling the driver it may reuse them (H15). */
  private receiveReport(chain: DescriptorChain): void {
    const ranges: PageRange[] = [];
    for (const segment of chain.writable) {
      const range = wholePages(segment);
      if (range !== undefined) ranges.push(range);
    }
    // With a non-zero poison value the pages must keep it, so they are not discarded (H14).
    const discard = !this.#discardInhibited && !(this.hasNegotiated(BalloonFeature.PAGE_POISON) && this.#poisonVal !== 0);
    if (discard) for (const r of ranges) this.memory.discard(r.gpa, r.length);
    // A range published and its pages discarded each. (A report chain's worst case passes the
    // budget, so it is served alone and after every other queue: this charge decides nothing.)
    // Stryker disable next-line all: see above
    this.spend(ranges.length + (discard ? ranges.reduce((pages, r) => pages + r.length / BALLOON_PAGE_SIZE, 0) : 0));
    if (ranges.length > 0) this.#reported$.next(ranges);
  }

  // ---- helpers ----

  private get activeFeatures(): bigint {
    return this.negotiatedFeatures === 0n ? this.offeredFeatures : this.negotiatedFeatures;
  }

  private isDriverOk(): boolean {
    return (this.status & Status.DRIVER_OK) !== 0;
  }

  private hintChanged(): void {
    this.#hintState$.next(this.#hint.state);
    this.configChanged();
  }

  /** The bytes of `segments`, which readChain already checked lie in RAM. */
  private gather(segments: readonly Segment[], length: number): Uint8Array {
    const out = new Uint8Array(length);
    let at = 0;
    for (const s of segments) {
      // Stryker disable next-line ConditionalExpression,EqualityOperator: callers pass the exact byte count of the segments, so this only skips empty trailing ones
      if (at >= length) break;
      // Stryker disable next-line ArithmeticOperator: s.length <= length - at at every call, so min() is s.length either way
      const n = Math.min(s.length, length - at);
      this.memory.readInto(s.gpa, out.subarray(at, at + n));
      at += n;
    }
    return out;
  }

  // ---- save / restore ----

  save(): BalloonState {
    return {
      format: 'balloon',
      version: 1,
      core: this.saveCore(),
      numPages: this.#numPages,
      actual: this.actual,
      poisonVal: this.#poisonVal,
      hint: this.#hint.save(),
      inflated: this.#inflated.runs(),
      ...(this.#statsHead === undefined ? {} : { statsHead: this.#statsHead }),
    };
  }

  /** Check a saved balloon for this device, changing nothing (see parseBalloonState). */
  protected parseState(state: unknown): BalloonState {
    return parseBalloonState(state, {
      memory: this.memory,
      offered: this.offeredFeatures,
      idRange: this.#hint.idRange,
      parseCore: (value, path) => this.parseCoreState(value, path),
      queueRoles: balloonQueueRoles,
    });
  }

  /**
   * Resume from {@link save} (on a migration destination). The whole state is checked first:
   * a {@link StateError} names the first field that is malformed or that this device could not
   * have reached, and nothing changes. The hint state becomes DONE so the guest releases the
   * pages it held for the source's last round.
   */
  restore(state: unknown): void {
    const parsed = this.parseState(state);
    this.commitCoreState(parsed.core);
    this.#numPages = parsed.numPages;
    this.#actual$.next(parsed.actual);
    this.#poisonVal = parsed.poisonVal;
    // The runs lie in RAM and do not overlap: this costs at most the RAM's page count.
    for (const [first, count] of parsed.inflated) this.#inflated.addRange(first, count);
    this.#statsHead = parsed.statsHead;
    this.#hint.restore(parsed.hint);
    this.resumeRestored();
    this.hintChanged();
  }
}
