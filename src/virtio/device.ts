/** The virtio device core: features, status, queues, config generation, reset, interrupts and NEEDS_RESET. */
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { GuestMemory } from '../memory/guest-memory.js';
import { MemoryError } from '../memory/errors.js';
import { Feature, Interrupt, Status, WORK_BUDGET, featureBit, hasFeature } from './constants.js';
import { DEFAULT_CHAIN_LIMITS, type ChainLimits, type DescriptorChain } from './descriptor-chain.js';
import { VirtioError } from './errors.js';
import { parseDeviceState, type DeviceStateRules, type VirtioDeviceState } from './device-state.js';
import { PackedQueue } from './packed-queue.js';
import type { QueueState } from './queue-state.js';
import { SplitQueue } from './split-queue.js';

/** A queue of either layout: split (§2.7) until the driver negotiates VIRTIO_F_RING_PACKED (§2.8). */
export type Virtqueue = SplitQueue | PackedQueue;

/** An interrupt the device raised: a used buffer on a queue, or a config change. */
export type InterruptEvent = { readonly kind: 'used'; readonly queue: number } | { readonly kind: 'config' };

/** What the device has counted of a driver's harmless mistakes (nothing to reset for). */
export interface DeviceCounters {
  /** Notifications for a missing or not-ready queue, or while the device cannot serve. */
  ignoredNotifies: number;
  /** Driver feature writes after FEATURES_OK, or FEATURES_OK refused. */
  refusedFeatures: number;
  /** Config writes to read-only fields or outside the config space. */
  ignoredConfigWrites: number;
}

export type { VirtioDeviceState };

/**
 * The device-independent half of a virtio device (§2–3): features, the status state machine,
 * queues, config generation and interrupts. A device type extends it with its config space and
 * queue handlers. Transports (mmio, pci) call only the `transport*`-style public methods; none of
 * them throws on anything a guest does — guest errors go to NEEDS_RESET (§2.1.2) with a typed
 * reason in {@link needsResetReason}.
 */
export abstract class VirtioDevice {
  abstract readonly deviceId: number;
  /** Every feature this device offers, VERSION_1 included. */
  readonly offeredFeatures: bigint;
  readonly counters: DeviceCounters = { ignoredNotifies: 0, refusedFeatures: 0, ignoredConfigWrites: 0 };

  #status = 0;
  #driverFeatures = 0n;
  #interruptStatus = 0;
  #configGeneration = 0;
  #needsResetReason: VirtioError | undefined;
  // Stryker disable next-line ArrayDeclaration: init() replaces it in every constructor before any read
  #queues: Virtqueue[] = [];
  /**
   * Queues kicked and not yet served: kicked before DRIVER_OK (served once the device is live),
   * or left when an action's work budget ran out (served by the next kick or serveDeferred).
   */
  readonly #pendingKicks = new Set<number>();
  /** Work units spent in the current guest or host action (see WORK_BUDGET). */
  #spent = 0;
  readonly #interrupt$ = new Subject<InterruptEvent>();
  readonly #irqLevel$ = new BehaviorSubject<boolean>(false);
  readonly #errors$ = new Subject<VirtioError>();

  /** Every interrupt raised, as it is raised (edge). */
  readonly interrupt$: Observable<InterruptEvent> = this.#interrupt$.asObservable();
  /** The interrupt line level: true while InterruptStatus is non-zero (for level-triggered INTx). */
  readonly irqLevel$: Observable<boolean> = this.#irqLevel$.asObservable();
  /** Every guest error that put the device in NEEDS_RESET. */
  readonly errors$: Observable<VirtioError> = this.#errors$.asObservable();

  protected constructor(
    readonly memory: GuestMemory,
    deviceFeatures: bigint,
  ) {
    this.offeredFeatures = deviceFeatures | featureBit(Feature.VERSION_1);
  }

  /** Call at the end of the subclass constructor: builds the queues for the offered features. */
  protected init(): void {
    this.#queues = this.buildQueues(this.offeredFeatures);
  }

  // ---- what a device type provides ----

  /** Max sizes of the queues that exist under `features`, in driver-visible index order. */
  protected abstract queueSizes(features: bigint): readonly number[];
  /** Size in bytes of the device-specific config space. */
  abstract get configSize(): number;
  /** Read `size` (1, 2 or 4) bytes of config at `offset`; the range is within configSize. */
  protected abstract readConfigField(offset: number, size: number): number;
  /** A driver write to config; the range is within configSize. Return false to count it ignored. */
  protected abstract writeConfigField(offset: number, size: number, value: number): boolean;
  /**
   * Serve queue `index` after a kick: take chains with {@link nextChain} until it returns
   * undefined. May throw VirtioError for guest errors.
   */
  protected abstract processQueue(index: number): void;
  /** The largest chain queue `index` accepts and its cost (default: {@link DEFAULT_CHAIN_LIMITS}). */
  protected chainLimits(_index: number): ChainLimits {
    return DEFAULT_CHAIN_LIMITS;
  }
  /** Device-type rules for an acceptable feature set (prerequisites). */
  protected validateFeatures(_features: bigint): boolean {
    return true;
  }
  /** The device went live (DRIVER_OK). */
  protected onDriverOk(): void {}
  /**
   * The driver disabled queue `index` (QueueReady 0): it takes back every buffer on it and may
   * move its rings, so a device type forgets the buffers it holds from that queue.
   */
  protected onQueueDisabled(_index: number): void {}
  /** Device reset: return the device-type state to its initial values. */
  protected abstract onReset(): void;

  // ---- state visible to host and transport ----

  get status(): number {
    return this.#status;
  }
  get driverFeatures(): bigint {
    return this.#driverFeatures;
  }
  /** The features in force: what the driver accepted once FEATURES_OK stuck. */
  get negotiatedFeatures(): bigint {
    return this.#status & Status.FEATURES_OK ? this.#driverFeatures : 0n;
  }
  get interruptStatus(): number {
    return this.#interruptStatus;
  }
  get configGeneration(): number {
    return this.#configGeneration;
  }
  get queues(): readonly Virtqueue[] {
    return this.#queues;
  }
  /** Why the device is in NEEDS_RESET, if it is. */
  get needsResetReason(): VirtioError | undefined {
    return this.#needsResetReason;
  }
  get isLive(): boolean {
    return (this.#status & (Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET | Status.FAILED)) === Status.DRIVER_OK;
  }

  hasNegotiated(bit: number): boolean {
    return hasFeature(this.negotiatedFeatures, bit);
  }

  // ---- transport entry points ----

  /** 32 bits of the offered features, window `select` (0: bits 0–31, 1: bits 32–63, …). */
  readDeviceFeatures(select: number): number {
    return this.featureWindow(this.offeredFeatures, select);
  }

  readDriverFeatures(select: number): number {
    return this.featureWindow(this.#driverFeatures, select);
  }

  writeDriverFeatures(select: number, value: number): void {
    // §3.1.1: features are written before FEATURES_OK and are final after it.
    if (this.#status & Status.FEATURES_OK || select > 3 || select < 0) {
      this.counters.refusedFeatures++;
      return;
    }
    const shift = BigInt(32 * select);
    const mask = 0xffffffffn << shift;
    this.#driverFeatures = (this.#driverFeatures & ~mask) | (BigInt(value >>> 0) << shift);
  }

  /**
   * A driver write to the status register (its low byte). Returns true when the write reset the
   * device, so that a transport resets its own selectors too.
   */
  writeStatus(value: number): boolean {
    const status = value & 0xff;
    this.guard(() => this.applyStatus(status));
    return status === 0;
  }

  /** A driver notification (kick) for queue `index`. */
  notify(index: number): void {
    if (this.#status & (Status.DEVICE_NEEDS_RESET | Status.FAILED) || !Number.isInteger(index) || index < 0 || index >= this.#queues.length) {
      this.counters.ignoredNotifies++;
      return;
    }
    if (!(this.#status & Status.DRIVER_OK)) {
      // §3.1.1 forbids this, but Linux drivers queue buffers before DRIVER_OK: serve them then.
      this.#pendingKicks.add(index);
      return;
    }
    if (!this.#queues[index]!.ready) {
      this.counters.ignoredNotifies++;
      return;
    }
    this.#spent = 0;
    this.guard(() => this.serve(index));
  }

  /** True when kicked queues wait for {@link serveDeferred} (an action ran out of budget). */
  get hasDeferredWork(): boolean {
    return this.isLive && this.#pendingKicks.size > 0;
  }

  /**
   * Go on serving queues whose kicks an earlier action left (its work budget ran out): one more
   * bounded action. A VMM calls it from its event loop while {@link hasDeferredWork} holds, as
   * QEMU reschedules a bottom half; with EVENT_IDX the driver may not kick again. Returns
   * whether work still waits.
   */
  serveDeferred(): boolean {
    this.#spent = 0;
    this.guard(() => this.servePendingKicks());
    return this.hasDeferredWork;
  }

  /**
   * QueueReady: the driver enables or disables queue `index`. Enabling a queue while the device
   * is live checks its layout at once; disabling stops every access to it (§4.2.2.2).
   */
  setQueueReady(index: number, ready: boolean): void {
    const q = this.#queues[index];
    if (q === undefined) return;
    const wasReady = q.ready;
    q.ready = ready;
    // Only a live device activates (a packed queue then writes its kick request): in
    // NEEDS_RESET the queue is not touched (§2.1.2).
    if (ready && this.isLive) this.guard(() => q.activate(this.ringFeatures()));
    if (wasReady && !ready) {
      // The driver takes its buffers back: nothing is left to serve on this queue, and a packed
      // ring starts afresh, as the driver's zeroed one will.
      this.#pendingKicks.delete(index);
      if (q.layout === 'packed') q.resetRing();
      this.onQueueDisabled(index);
    }
  }

  /** The driver acknowledges interrupt bits (InterruptACK). */
  ackInterrupt(mask: number): void {
    this.#interruptStatus &= ~mask;
    this.updateIrqLevel();
  }

  /** Read config bytes; outside the config space reads 0 (§4.2.2.2 leaves it undefined). */
  readConfig(offset: number, size: number): number {
    if (!this.configRangeOk(offset, size)) return 0;
    return this.readConfigField(offset, size) >>> 0;
  }

  writeConfig(offset: number, size: number, value: number): void {
    if (!this.configRangeOk(offset, size)) {
      this.counters.ignoredConfigWrites++;
      return;
    }
    let accepted = false;
    this.guard(() => {
      accepted = this.writeConfigField(offset, size, value >>> 0);
    });
    if (!accepted) this.counters.ignoredConfigWrites++;
  }

  /** Device reset (status 0): every queue, feature, interrupt and config back to initial. */
  reset(): void {
    this.#status = 0;
    this.#driverFeatures = 0n;
    this.#interruptStatus = 0;
    this.#needsResetReason = undefined;
    this.#pendingKicks.clear();
    this.#queues = this.buildQueues(this.offeredFeatures);
    this.guard(() => this.onReset());
    this.updateIrqLevel();
  }

  // ---- helpers for device types ----

  /**
   * The next chain of queue `index` to serve in this action: undefined when the queue is empty,
   * when it is not ready or the device not live (§2.1.2, §4.2.2.2: such a queue is never
   * touched), or when the action's work budget cannot cover one more chain of this queue (the
   * kick then stays pending for the next event).
   */
  protected nextChain(index: number): DescriptorChain | undefined {
    // Checked for every chain: a host subscriber of what the last chain published may have
    // reset the device, or put it in NEEDS_RESET, in the meantime.
    const queue = this.#queues[index]!;
    if (!queue.ready || !this.isLive || queue.pending() === 0) return undefined;
    const limits = this.chainLimits(index);
    // The chain's worst case must fit, so an action never passes max(budget, one chain's cost).
    if (this.#spent > 0 && this.#spent + limits.cost > WORK_BUDGET) {
      this.#pendingKicks.add(index);
      return undefined;
    }
    const chain = queue.pop(limits)!;
    // The walk: each buffer's descriptor, and one more (a table's, or the check of the last).
    this.spend(chain.readable.length + chain.writable.length + 1);
    return chain;
  }

  /** Charge work done for the current chain (pages and items it touched) to the action's budget. */
  protected spend(units: number): void {
    this.#spent += units;
  }

  /**
   * Run device work that may meet a guest error, then raise used-buffer interrupts for the
   * queues that need one. Host API methods of a device type wrap their queue work in this.
   */
  protected guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.fail(toVirtioError(error));
    }
  }

  /** Raise a used-buffer interrupt for `index` if the driver asked for one. */
  protected signalUsed(index: number): void {
    if (this.#queues[index]?.takeInterrupt()) this.raise(Interrupt.USED_BUFFER, { kind: 'used', queue: index });
  }

  /** The config space changed: new generation, and a config interrupt once the driver is live. */
  protected configChanged(): void {
    this.#configGeneration = (this.#configGeneration + 1) >>> 0;
    // Like QEMU, a driver that is not live yet gets no config interrupt; it reads config anyway.
    if (this.#status & Status.DRIVER_OK) this.raise(Interrupt.CONFIG_CHANGE, { kind: 'config' });
  }

  /** Enter NEEDS_RESET for a guest error (§2.1.2): stop serving, notify if live, keep the reason. */
  protected fail(error: VirtioError): void {
    if (this.#status & Status.DEVICE_NEEDS_RESET) return;
    this.#needsResetReason = error;
    this.#status |= Status.DEVICE_NEEDS_RESET;
    this.#errors$.next(error);
    if (this.#status & Status.DRIVER_OK) this.configChanged();
  }

  // ---- internals ----

  private serve(index: number): void {
    this.#pendingKicks.delete(index);
    this.processQueue(index);
    this.signalUsed(index);
  }

  /** Serve kicked queues in index order; a queue that is not ready has nothing to serve. */
  private servePendingKicks(): void {
    for (const index of [...this.#pendingKicks].sort((a, b) => a - b)) {
      if (this.#queues[index]?.ready) this.serve(index);
      else this.#pendingKicks.delete(index);
    }
  }

  private applyStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    if (this.#status & (Status.FAILED | Status.DEVICE_NEEDS_RESET) && !(value & Status.FAILED)) {
      // Only a reset (or giving up) helps now; further steps are ignored.
      return;
    }
    const old = this.#status & ~Status.DEVICE_NEEDS_RESET;
    let next = value & ~Status.DEVICE_NEEDS_RESET;
    // §2.1.1: the driver never clears a bit it set.
    if ((next & old) !== old) {
      throw new VirtioError('bad-status-transition', `status write 0x${value.toString(16)} clears bits of 0x${old.toString(16)}`);
    }
    const added = next & ~old;
    if (added & Status.FEATURES_OK && !this.featuresAcceptable(this.#driverFeatures)) {
      // §3.1.1: refuse by leaving FEATURES_OK clear; the driver re-reads status and gives up.
      this.counters.refusedFeatures++;
      next &= ~Status.FEATURES_OK;
    } else if (added & Status.FEATURES_OK) {
      // The queue layout follows the negotiated features, before the driver sets queues up.
      this.#queues = this.buildQueues(this.#driverFeatures, hasFeature(this.#driverFeatures, Feature.RING_PACKED));
    }
    this.#status = next | (this.#status & Status.DEVICE_NEEDS_RESET);
    if (added & Status.DRIVER_OK) this.goLive();
  }

  private goLive(): void {
    if (!(this.#status & Status.FEATURES_OK)) {
      throw new VirtioError('bad-status-transition', 'DRIVER_OK set before FEATURES_OK');
    }
    const ring = this.ringFeatures();
    for (const q of this.#queues) if (q.ready) q.activate(ring);
    this.onDriverOk();
    this.#spent = 0;
    this.servePendingKicks();
  }

  private ringFeatures(): { eventIdx: boolean; indirect: boolean } {
    return { eventIdx: this.hasNegotiated(Feature.EVENT_IDX), indirect: this.hasNegotiated(Feature.INDIRECT_DESC) };
  }

  private featuresAcceptable(features: bigint): boolean {
    return (
      (features & ~this.offeredFeatures) === 0n && // §2.2.1: nothing that was not offered
      hasFeature(features, Feature.VERSION_1) && // this is a modern (1.x) device
      this.validateFeatures(features)
    );
  }

  private buildQueues(features: bigint, packed = false): Virtqueue[] {
    return this.queueSizes(features).map((size) => (packed ? this.newPackedQueue(size) : this.newQueue(size)));
  }

  /** Make one queue; tests override it to inject a broken chain walker. */
  protected newQueue(maxSize: number): SplitQueue {
    return new SplitQueue(this.memory, maxSize);
  }

  /** Make one packed queue; tests override it to inject broken ones. */
  protected newPackedQueue(maxSize: number): PackedQueue {
    return new PackedQueue(this.memory, maxSize);
  }

  private featureWindow(features: bigint, select: number): number {
    // Stryker disable next-line ConditionalExpression: an integer select below 0 or above 3 shifts every bit out of the 32-bit window anyway (features end at bit 127)
    if (!Number.isInteger(select) || select < 0 || select > 3) return 0;
    return Number((features >> BigInt(32 * select)) & 0xffffffffn);
  }

  private configRangeOk(offset: number, size: number): boolean {
    return (size === 1 || size === 2 || size === 4) && Number.isInteger(offset) && offset >= 0 && offset + size <= this.configSize;
  }

  private raise(bit: number, event: InterruptEvent): void {
    this.#interruptStatus |= bit;
    this.#interrupt$.next(event);
    this.updateIrqLevel();
  }

  private updateIrqLevel(): void {
    const level = this.#interruptStatus !== 0;
    if (level !== this.#irqLevel$.value) this.#irqLevel$.next(level);
  }

  // ---- snapshot ----

  /** The device-independent state, as plain data (JSON-safe). */
  saveCore(): VirtioDeviceState {
    const reason = this.#needsResetReason;
    return {
      format: 'virtio-device',
      version: 1,
      status: this.#status,
      driverFeatures: this.#driverFeatures.toString(16),
      interruptStatus: this.#interruptStatus,
      configGeneration: this.#configGeneration,
      queues: this.#queues.map((q) => q.save()),
      pendingKicks: [...this.#pendingKicks].sort((a, b) => a - b),
      ...(reason ? { needsReset: { kind: reason.kind, message: reason.message.slice(0, 1024) } } : {}),
    };
  }

  /**
   * Resume from {@link saveCore}: the whole state is checked first (a {@link StateError}
   * names the first bad field and nothing changes), then applied. A saved live device is live
   * again, its ready queues checked against this RAM (NEEDS_RESET if they are not in it).
   */
  restoreCore(state: unknown): void {
    const parsed = this.parseCoreState(state, '');
    this.commitCoreState(parsed);
    this.resumeRestored();
  }

  /** Check a saved device-independent state at `path`, changing nothing (see parseDeviceState). */
  protected parseCoreState(state: unknown, path: string): VirtioDeviceState {
    const rules: DeviceStateRules = {
      offered: this.offeredFeatures,
      acceptable: (features) => this.featuresAcceptable(features),
      queueSizes: (features) => this.queueSizes(features),
    };
    return parseDeviceState(state, path, rules);
  }

  /** Apply a checked state: a reset, then every field; the queues are not activated yet. */
  protected commitCoreState(state: VirtioDeviceState): void {
    this.reset();
    this.#driverFeatures = BigInt(`0x${state.driverFeatures}`);
    this.#status = state.status;
    this.#interruptStatus = state.interruptStatus;
    this.#configGeneration = state.configGeneration;
    const featuresOk = (state.status & Status.FEATURES_OK) !== 0;
    this.#queues = this.buildQueues(featuresOk ? this.#driverFeatures : this.offeredFeatures, featuresOk && hasFeature(this.#driverFeatures, Feature.RING_PACKED));
    state.queues.forEach((qs, i) => restoreQueue(this.#queues[i]!, qs));
    for (const index of state.pendingKicks) this.#pendingKicks.add(index);
    if (state.needsReset) this.#needsResetReason = new VirtioError(state.needsReset.kind, state.needsReset.message);
    this.updateIrqLevel();
  }

  /** After a commit: a live device checks its ready queues against this RAM, as at DRIVER_OK. */
  protected resumeRestored(): void {
    if (!this.isLive) return;
    const ring = this.ringFeatures();
    this.guard(() => {
      for (const q of this.#queues) if (q.ready) q.activate(ring);
    });
  }
}

/** Resume one queue; parseDeviceState gave each saved queue the layout the features make, as buildQueues did. */
function restoreQueue(queue: Virtqueue, state: QueueState): void {
  if (queue.layout === 'packed' && state.layout === 'packed') queue.restore(state);
  else if (queue.layout === 'split' && state.layout === 'split') queue.restore(state);
}

/** Map anything thrown while serving the guest to a typed reason. */
function toVirtioError(error: unknown): VirtioError {
  if (error instanceof VirtioError) return error;
  if (error instanceof MemoryError) {
    return new VirtioError(error.kind === 'u64-unsafe' ? 'bad-value' : 'buffer-out-of-range', error.message);
  }
  // A fault of the device itself: keep the original error for whoever debugs it.
  return new VirtioError('internal', `internal error: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
