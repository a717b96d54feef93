/** The guest's virtio-balloon driver, after Linux's virtio_balloon.c: probe, inflate and deflate, stats, free page hinting and reporting, the shrinker and deflate-on-OOM. */
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { BalloonConfig, BalloonFeature, CMD_ID_STOP, STAT_ENTRY_SIZE } from '../virtio/balloon/constants.js';
import { Feature, Interrupt, featureBit, hasFeature } from '../virtio/constants.js';
import { REPORTING_CAPACITY, setUpBalloonQueues, type BalloonQueues, type BalloonRequest, type IndexedQueue } from './balloon-queues.js';
import type { BuddyAllocator } from './buddy.js';
import { DriverHintState } from './driver-hint-state.js';
import type { TransportDriver } from './transport-driver.js';

export { REPORTING_CAPACITY } from './balloon-queues.js';

/** VIRTIO_BALLOON_ARRAY_PFNS_MAX: PFNs per inflate or deflate request. */
export const PFNS_PER_REQUEST = 256;
/** VIRTIO_BALLOON_OOM_NR_PAGES: pages given back per OOM notification with DEFLATE_ON_OOM. */
export const OOM_DEFLATE_PAGES = 256;
/** PAGE_REPORTING_DELAY: reporting runs 2 s after free pages accumulate. */
export const REPORTING_DELAY_MS = 2000;
/** pageblock_order on x86: reports are made of free blocks of at least 2 MiB. */
export const REPORTING_ORDER = 9;
/** PAGE_POISON repeated to 32 bits (include/linux/poison.h). */
export const POISON_VAL = 0xaaaaaaaa;

/** What the guest kernel is configured with, as far as the balloon driver cares. */
export interface BalloonDriverOptions {
  /** init_on_free=1: freed pages are zeroed. */
  readonly initOnFree?: boolean;
  /** page_poison=1: freed pages are filled with 0xaa. */
  readonly pagePoisoning?: boolean;
  /** At most this many hint blocks per work step (tests use it to stretch a round over steps). */
  readonly hintBlocksPerStep?: number;
  /**
   * What the guest's CPU pays for its work: hint blocks then cost guest time (allocation,
   * zeroing under init_on_alloc, the notify), so a round takes as long as it does on that
   * host. Without it the driver's work costs nothing.
   */
  readonly cpu?: GuestCpuCosts;
  /** Inflate or deflate requests (256 pages each) per work step; 4 by default (about 4 GiB/s). */
  readonly balloonRequestsPerStep?: number;
}

/** What a vCPU of the guest gets done per unit of time on its host (see `sim/host-profile.ts`). */
export interface GuestCpuCosts {
  /** Bytes per second one vCPU zeroes (clear_page): what init_on_alloc costs. */
  readonly zeroBytesPerSec: number;
  /**
   * One free page hint besides zeroing, µs: taking the block off the buddy allocator's free
   * lists, adding it to the ring and notifying the device (a trapped register write).
   */
  readonly hintBlockUs: number;
  /**
   * What the guest's first write to a page costs when the host never backed it, µs: a fault on
   * the host that maps (and zeroes) a page for it. Zeroing memory untouched since boot pays it
   * for every page.
   */
  readonly firstTouchUsPerPage: number;
}

/** Memory statistics the kernel reports through the stats queue. */
export interface GuestMemoryStats {
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly availableBytes: number;
  readonly cacheBytes: number;
  readonly majorFaults: number;
  readonly minorFaults: number;
}

// The driver's scratch page: the PFN array, the stats array, the two command id words.
const PFN_ARRAY = 0;
const STATS_ARRAY = PFNS_PER_REQUEST * 4;
const CMD_ID_ACTIVE = 2048;
const CMD_ID_STOP_WORD = 2052;

/**
 * The guest's virtio-balloon driver, following Linux's drivers/virtio/virtio_balloon.c step by
 * step: validate/probe, a balloon-size work item that inflates or deflates 256 PFNs per request
 * and updates `actual`, the stats buffer, free page hinting (command id out-buffer, order-10
 * blocks as single in-buffers while more than one ring slot is free, always a STOP at the end,
 * blocks held until DONE), the shrinker that gives hinted blocks back under memory pressure,
 * and deflate-on-OOM. It talks to the device only through its transport and guest memory.
 */
export class BalloonDriver {
  features = 0n;
  /** Pages in the balloon (Linux's vb->num_pages), in 4 KiB units. */
  private balloonPages: number[] = [];
  /** The queues, from a successful probe until remove. */
  private queues: BalloonQueues | undefined;
  private nextReportMs = REPORTING_DELAY_MS;
  private scratch = 0;
  /** Blocks the driver took for its rings and buffers: [head, order]. */
  private ownBlocks: Array<[number, number]> = [];
  private inFlight: BalloonRequest | undefined;

  /** Free page hinting: the command ids received and the round running. */
  private readonly hint = new DriverHintState();
  /** Heads of hinted blocks the driver holds until DONE (free_page_list). */
  private heldBlocks: number[] = [];
  /** Worker time the running round has and has not spent yet, ms. */
  private hintWorkMs = 0;

  // Work items (Linux's workqueue): set by the config-change handler, run by step().
  private sizeWorkQueued = false;
  private hintWorkQueued = false;
  private statsRequested = false;

  /** Every round this driver ran: the id and the blocks it hinted (for tests and traces). */
  readonly rounds: Array<{ cmdId: number; blocks: number[]; stopped: boolean }> = [];

  constructor(
    private readonly transport: TransportDriver,
    private readonly memory: GuestMemory,
    private readonly pages: BuddyAllocator,
    private readonly options: BalloonDriverOptions = {},
    private readonly stats: () => GuestMemoryStats = () => ({ freeBytes: 0, totalBytes: 0, availableBytes: 0, cacheBytes: 0, majorFaults: 0, minorFaults: 0 }),
  ) {}

  /** Pages the balloon holds for the host (inflated). */
  get inflatedPages(): number {
    return this.balloonPages.length;
  }

  /** Pages held in hinted blocks, not usable by the guest until returned. */
  get heldPages(): number {
    return this.heldBlocks.length << this.pages.maxOrder;
  }

  /** Heads of the blocks held after hinting. */
  get heldBlockList(): readonly number[] {
    return this.heldBlocks;
  }

  /** The 4 KiB PFNs in the balloon (inflated). */
  get balloonedPfns(): readonly number[] {
    return this.balloonPages;
  }

  /** Whether a hint round is running (its STOP not yet sent). */
  get hinting(): boolean {
    return this.hint.running;
  }

  get hintOrder(): number {
    return this.pages.maxOrder;
  }

  // ---- probe ----

  /**
   * virtballoon_validate + virtballoon_probe: negotiate, set up the queues at Linux's compacted
   * indices, write poison_val before DRIVER_OK, prime the stats queue, go live.
   */
  probe(): boolean {
    const poisoning = this.options.initOnFree || this.options.pagePoisoning;
    const accepted = this.transport.negotiate((offered) => {
      let want =
        featureBit(BalloonFeature.MUST_TELL_HOST) |
        featureBit(BalloonFeature.STATS_VQ) |
        featureBit(BalloonFeature.DEFLATE_ON_OOM) |
        featureBit(BalloonFeature.FREE_PAGE_HINT) |
        featureBit(BalloonFeature.PAGE_POISON) |
        featureBit(BalloonFeature.PAGE_REPORTING) |
        featureBit(Feature.EVENT_IDX) |
        featureBit(Feature.INDIRECT_DESC) |
        // Linux keeps the ring transport features a modern device offers (vring_transport_features).
        featureBit(Feature.RING_PACKED);
      // §3.4: poison is only meaningful when free pages hold a known value; without device
      // support for it, reporting would destroy that value.
      if (!poisoning) want &= ~featureBit(BalloonFeature.PAGE_POISON);
      else if (!hasFeature(offered, BalloonFeature.PAGE_POISON)) want &= ~featureBit(BalloonFeature.PAGE_REPORTING);
      return want;
    });
    if (accepted === undefined) return false;
    this.features = accepted;
    this.scratch = this.kernelPages(1);
    const queues = setUpBalloonQueues(this.transport, accepted, (count) => this.kernelPages(count));
    if (queues === undefined) return false;
    this.queues = queues;
    if (hasFeature(accepted, BalloonFeature.PAGE_POISON)) {
      this.transport.writeConfig32(BalloonConfig.POISON_VAL, this.options.initOnFree ? 0 : POISON_VAL);
    }
    if (queues.stats) this.queueStats(queues.stats);
    this.transport.driverOk();
    if (queues.stats) this.transport.kick(queues.stats.index, queues.stats.queue);
    // A target may already be set: behave as if the config just changed.
    this.configChanged();
    return true;
  }

  /** Contiguous kernel pages for rings and buffers, freed by {@link remove}. */
  private kernelPages(count: number): number {
    const order = Math.ceil(Math.log2(count));
    const pfn = this.pages.alloc(order);
    if (pfn === undefined) throw new Error('balloon probe: out of memory for rings');
    this.ownBlocks.push([pfn, order]);
    return pfn;
  }

  /**
   * virtballoon_remove and freeze (remove_common): deflate everything, give every hinted block
   * back, reset the device and free the rings. {@link probe} brings the driver back.
   */
  remove(): void {
    for (let guard = 0; this.balloonPages.length > 0 && guard < this.balloonPages.length + 2; guard++) {
      if (!this.completeRequest()) break; // a device that never acks keeps its pages
      this.leakBalloon(PFNS_PER_REQUEST);
      this.completeRequest();
    }
    this.returnHeldBlocks(Number.POSITIVE_INFINITY);
    this.transport.reset();
    for (const [pfn, order] of this.ownBlocks) this.pages.free(pfn, order);
    this.ownBlocks = [];
    this.inFlight = undefined;
    this.hint.reset();
    this.sizeWorkQueued = this.hintWorkQueued = this.statsRequested = false;
    const reporting = this.queues?.reporting;
    if (reporting) for (const [, blocks] of reporting.queue.takeOutstanding()) for (const [head, order] of blocks) this.pages.putBackReported(head, order);
    this.queues = undefined;
  }

  // ---- interrupts and work ----

  /** The interrupt handler: config change queues work (virtballoon_changed); used buffers wake waiters. */
  handleInterrupt(): void {
    const isr = this.transport.takeInterrupts();
    if (isr & Interrupt.CONFIG_CHANGE) this.configChanged();
    const stats = this.queues?.stats;
    if (isr & Interrupt.USED_BUFFER && stats && stats.queue.drainUsed().length > 0) this.statsRequested = true;
  }

  private configChanged(): void {
    this.sizeWorkQueued = true;
    if (this.queues?.freePage && this.hint.configChanged()) this.hintWorkQueued = true;
  }

  /**
   * The simulated time before which {@link step} certainly does nothing: -Infinity while work is
   * queued or a request is in flight, the free page reporting timer otherwise (Infinity without one).
   */
  idleUntilMs(): number {
    if (this.statsRequested || this.sizeWorkQueued || this.hintWorkQueued || this.hint.running || this.inFlight !== undefined) return Number.NEGATIVE_INFINITY;
    return this.queues?.reporting ? this.nextReportMs : Number.POSITIVE_INFINITY;
  }

  /**
   * Run queued work once (a pass of the balloon workqueue) at simulated time `nowMs`, with
   * `workMs` of a vCPU's time for it (what a hint round can spend; see {@link hintBlockMs}).
   * Returns whether work remains.
   */
  step(nowMs = 0, workMs = 1): boolean {
    const queues = this.queues;
    if (this.statsRequested && queues?.stats) {
      this.statsRequested = false;
      this.queueStats(queues.stats);
      this.transport.kick(queues.stats.index, queues.stats.queue);
    }
    for (let i = this.options.balloonRequestsPerStep ?? 4; i > 0 && this.sizeWorkQueued; i--) this.updateBalloonSize();
    if ((this.hintWorkQueued || this.hint.running) && queues?.freePage) this.reportFreePages(queues.freePage, workMs);
    if (queues?.reporting && nowMs >= this.nextReportMs) {
      this.nextReportMs = nowMs + REPORTING_DELAY_MS;
      this.reportToHost(queues.reporting);
    }
    return this.sizeWorkQueued || this.hintWorkQueued || this.hint.running || this.inFlight !== undefined;
  }

  // ---- balloon size (fill_balloon / leak_balloon) ----

  /** target − pages in the balloon (towards_target). */
  private towardsTarget(): number {
    return this.transport.readConfig32(BalloonConfig.NUM_PAGES) - this.balloonPages.length;
  }

  private updateBalloonSize(): void {
    if (!this.completeRequest()) return; // still waiting for the device's ack
    const diff = this.towardsTarget();
    if (diff === 0) {
      this.sizeWorkQueued = false;
      return;
    }
    if (diff > 0) this.fillBalloon(Math.min(diff, PFNS_PER_REQUEST));
    else this.leakBalloon(Math.min(-diff, PFNS_PER_REQUEST));
    this.completeRequest();
  }

  private fillBalloon(count: number): void {
    const pfns: number[] = [];
    for (let i = 0; i < count; i++) {
      // GFP_HIGHUSER_MOVABLE | __GFP_NORETRY: no reclaim on the balloon's behalf.
      const pfn = this.pages.alloc(0);
      if (pfn === undefined) break; // "Out of puff": try again on the next pass
      pfns.push(pfn);
    }
    if (pfns.length === 0) {
      this.sizeWorkQueued = false;
      return;
    }
    this.balloonPages.push(...pfns);
    this.tellHost({ kind: 'inflate', pfns });
  }

  /** Take up to `count` pages out; with MUST_TELL_HOST they are reused only after the ack. */
  private leakBalloon(count: number): number {
    const pfns = this.balloonPages.splice(Math.max(0, this.balloonPages.length - count));
    if (pfns.length > 0) this.tellHost({ kind: 'deflate', pfns });
    return pfns.length;
  }

  /** The queue that carries inflate or deflate requests (the driver is probed: it has requests). */
  private requestQueue(kind: BalloonRequest['kind']): IndexedQueue<BalloonRequest> {
    if (this.queues === undefined) throw new Error('balloon driver: a request without a probed device');
    return kind === 'inflate' ? this.queues.inflate : this.queues.deflate;
  }

  private tellHost(request: BalloonRequest): void {
    const { index, queue } = this.requestQueue(request.kind);
    const at = this.scratch * PAGE_SIZE + PFN_ARRAY;
    const bytes = new Uint8Array(request.pfns.length * 4);
    const view = new DataView(bytes.buffer);
    request.pfns.forEach((pfn, i) => view.setUint32(i * 4, pfn, true));
    this.memory.write(at, bytes);
    queue.add([{ gpa: at, length: bytes.length }], [], request);
    this.inFlight = request;
    this.transport.kick(index, queue);
  }

  /** Finish the request in flight once acked: release deflated pages, update `actual`. */
  private completeRequest(): boolean {
    const request = this.inFlight;
    if (request === undefined) return true;
    if (this.requestQueue(request.kind).queue.getUsed() === undefined) return false;
    this.inFlight = undefined;
    if (request.kind === 'deflate') for (const pfn of request.pfns) this.pages.free(pfn, 0);
    this.transport.writeConfig32(BalloonConfig.ACTUAL, this.balloonPages.length);
    return true;
  }

  /**
   * The OOM notifier with DEFLATE_ON_OOM: give back up to 256 pages now. Returns the pages
   * freed (0 without the feature).
   */
  deflateOnOom(): number {
    if (!hasFeature(this.features, BalloonFeature.DEFLATE_ON_OOM) || this.inFlight) return 0;
    const freed = this.leakBalloon(OOM_DEFLATE_PAGES);
    this.completeRequest();
    return freed;
  }

  // ---- free page reporting (mm/page_reporting.c + virtballoon_free_page_report) ----

  /**
   * Report every free block of at least pageblock order that was not reported yet, 32 per
   * request; each block goes back to the free lists, marked reported, once the device acked.
   */
  private reportToHost(reporting: IndexedQueue<Array<[number, number]>>): void {
    const queue = reporting.queue;
    this.completeReports(queue);
    if (queue.outstanding > 0) return; // the previous report is still with the device
    const order = Math.min(REPORTING_ORDER, this.pages.maxOrder);
    for (;;) {
      const blocks = this.pages.isolateUnreported(order, REPORTING_CAPACITY);
      if (blocks.length === 0) return;
      const segments = blocks.map(([head, o]) => ({ gpa: head * PAGE_SIZE, length: PAGE_SIZE << o }));
      queue.add([], segments, blocks);
      this.transport.kick(reporting.index, queue);
      if (!this.completeReports(queue)) return;
    }
  }

  /** Put acknowledged reports back; false while one is still with the device. */
  private completeReports(queue: IndexedQueue<Array<[number, number]>>['queue']): boolean {
    for (let used = queue.getUsed(); used !== undefined; used = queue.getUsed()) {
      for (const [head, order] of used.token) this.pages.putBackReported(head, order);
    }
    return queue.outstanding === 0;
  }

  // ---- stats ----

  private queueStats(stats: IndexedQueue<'stats'>): void {
    const s = this.stats();
    const entries: Array<[number, number]> = [
      [0, 0], // swap in
      [1, 0], // swap out
      [2, s.majorFaults],
      [3, s.minorFaults],
      [4, s.freeBytes],
      [5, s.totalBytes],
      [6, s.availableBytes],
      [7, s.cacheBytes],
      [8, 0], // hugetlb allocations
      [9, 0], // hugetlb failures
    ];
    const bytes = new Uint8Array(entries.length * STAT_ENTRY_SIZE);
    const view = new DataView(bytes.buffer);
    entries.forEach(([tag, value], i) => {
      view.setUint16(i * STAT_ENTRY_SIZE, tag, true);
      view.setUint32(i * STAT_ENTRY_SIZE + 2, value % 0x1_0000_0000, true);
      view.setUint32(i * STAT_ENTRY_SIZE + 6, Math.floor(value / 0x1_0000_0000), true);
    });
    const at = this.scratch * PAGE_SIZE + STATS_ARRAY;
    this.memory.write(at, bytes);
    stats.queue.add([{ gpa: at, length: bytes.length }], [], 'stats');
  }

  // ---- free page hinting (report_free_page_func) ----

  /** The host's command id, from the config. */
  private readCmdId = (): number => this.transport.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID);

  /**
   * Guest time a hint block costs the worker, ms: taking it off the free lists, zeroing it when
   * init_on_alloc is on (Linux's alloc_pages zeroes a block before the driver sees it), with a
   * host page fault for each of its `freshPages` never touched since boot, adding it to the ring
   * and notifying the device. 0 without {@link BalloonDriverOptions.cpu}.
   */
  hintBlockMs(freshPages = 0): number {
    const cpu = this.options.cpu;
    if (cpu === undefined) return 0;
    if (!this.pages.initOnAlloc) return cpu.hintBlockUs / 1000;
    const zeroMs = ((PAGE_SIZE << this.hintOrder) * 1000) / cpu.zeroBytesPerSec;
    return (cpu.hintBlockUs + freshPages * cpu.firstTouchUsPerPage) / 1000 + zeroMs;
  }

  /** report_free_page_func with `workMs` more of the worker's time: start a round, or go on with it. */
  private reportFreePages(freePage: IndexedQueue<'cmd' | number>, workMs: number): void {
    if (!this.hint.running) {
      this.hintWorkQueued = false;
      const command = this.hint.command(this.readCmdId);
      if (command.kind === 'done') {
        this.returnHeldBlocks(Number.POSITIVE_INFINITY);
        return;
      }
      if (command.kind === 'none') return;
      this.sendCommand(freePage, CMD_ID_ACTIVE, command.cmdId);
      this.hint.start(command.cmdId);
      this.hintWorkMs = 0;
      this.rounds.push({ cmdId: command.cmdId, blocks: [], stopped: false });
    }
    // send_free_pages: one block per iteration until the id changes or memory runs out, each
    // paid for in worker time: a block starts while there is time left, and what it costs past
    // that comes out of the next pass.
    this.hintWorkMs += workMs;
    const free = this.options.cpu === undefined;
    const cap = this.options.hintBlocksPerStep ?? Number.POSITIVE_INFINITY;
    let ended = false;
    for (let sent = 0; ; sent++) {
      if (!this.hint.current(this.readCmdId)) {
        ended = true;
        break;
      }
      if (sent >= cap || (!free && this.hintWorkMs <= 0)) break;
      const outcome = this.sendFreeBlock(freePage);
      if (outcome === 'no-memory') {
        ended = true;
        break;
      }
      this.hintWorkMs -= this.hintBlockMs(this.pages.lastAllocFreshPages);
      // A full ring: Linux allocates, finds no slot, frees the block and tries again until the
      // device returns buffers, so the worker spends its time and zeroes that block meanwhile.
      if (outcome === 'ring-full') {
        this.hintWorkMs = Math.min(0, this.hintWorkMs);
        break;
      }
    }
    if (!ended) return; // the round goes on in the next pass
    this.sendCommand(freePage, CMD_ID_STOP_WORD, CMD_ID_STOP);
    this.hint.stop();
    this.hintWorkMs = 0;
    this.rounds[this.rounds.length - 1]!.stopped = true;
  }

  /** get_free_page_and_send: queue one free block, or say why not. */
  private sendFreeBlock(freePage: IndexedQueue<'cmd' | number>): 'queued' | 'ring-full' | 'no-memory' {
    const queue = freePage.queue;
    queue.drainUsed();
    // __GFP_NORETRY | __GFP_NOMEMALLOC: never reclaim (or shrink itself) for a hint.
    const head = this.pages.alloc(this.hintOrder);
    if (head === undefined) return 'no-memory';
    // One slot always stays free for the command id.
    if (queue.freeDescriptors <= 1) {
      this.pages.free(head, this.hintOrder);
      return 'ring-full';
    }
    // The block is held from the moment it is queued: a synchronous device may act on the kick.
    this.heldBlocks.push(head);
    this.rounds[this.rounds.length - 1]!.blocks.push(head);
    queue.add([], [{ gpa: head * PAGE_SIZE, length: PAGE_SIZE << this.hintOrder }], head);
    this.transport.kick(freePage.index, queue);
    return 'queued';
  }

  private sendCommand(freePage: IndexedQueue<'cmd' | number>, offset: number, id: number): void {
    const queue = freePage.queue;
    queue.drainUsed();
    const at = this.scratch * PAGE_SIZE + offset;
    this.memory.writeU32(at, id);
    queue.add([{ gpa: at, length: 4 }], [], 'cmd');
    this.transport.kick(freePage.index, queue);
  }

  /** Give up to `blocks` held blocks back to the page allocator; returns pages freed. */
  private returnHeldBlocks(blocks: number): number {
    let freed = 0;
    while (blocks-- > 0 && this.heldBlocks.length > 0) {
      this.pages.free(this.heldBlocks.pop()!, this.hintOrder);
      freed += 1 << this.hintOrder;
    }
    return freed;
  }

  /**
   * The shrinker (virtio_balloon_shrinker_scan): under memory pressure, return whole hinted
   * blocks at once — possibly before the device processed their hints. Returns pages freed.
   */
  shrink(pages: number): number {
    return this.returnHeldBlocks(Math.ceil(pages / (1 << this.hintOrder)));
  }
}
