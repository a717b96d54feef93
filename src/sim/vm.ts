/** The simulated VM, a small VMM: guest RAM, a guest kernel and its workload, the balloon device and driver, their steps and switchover. */
import { BalloonDriver, type BalloonDriverOptions, type GuestCpuCosts } from '../guest/balloon-driver.js';
import type { FreePolicy } from '../guest/buddy.js';
import { GuestKernel } from '../guest/kernel.js';
import { MmioDriver } from '../guest/mmio-driver.js';
import { idle, type Workload } from '../guest/workloads.js';
import { CompactMemory } from '../memory/compact/compact-memory.js';
import { FlatMemory } from '../memory/flat-memory.js';
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { SparseMemory } from '../memory/sparse-memory.js';
import type { Subscription } from 'rxjs';
import { MovableMemory } from '../memory/delegating-memory.js';
import { HostCpus } from '../migration/host-cpus.js';
import { OverlayManager, type OverlayPageState } from '../migration/overlay.js';
import { BalloonDevice, type BalloonOptions, type BalloonState } from '../virtio/balloon/balloon-device.js';
import { BalloonFeature } from '../virtio/balloon/constants.js';
import type { HintSource } from '../migration/hint-source.js';
import { MmioReg, MmioTransport } from '../virtio/transport/mmio.js';

/** How guest RAM is stored: every byte, written pages only, or compactly (patterns as versions). */
export type MemoryKind = 'flat' | 'sparse' | 'compact';

/** A simulated VM: its RAM and how it is stored, seed, workload, free-time policy, balloon device and driver, vCPUs and host. */
export interface VmOptions {
  readonly ramBytes: number;
  readonly seed: number;
  readonly memory?: MemoryKind;
  readonly workload?: Workload;
  /** Defaults to what the workload needs, else 'none' (Debian's default). */
  readonly freePolicy?: FreePolicy;
  readonly initOnAlloc?: boolean;
  readonly maxOrder?: number;
  /** Balloon features offered (default: stats, deflate-on-OOM, must-tell-host, free page hints). */
  readonly balloon?: BalloonOptions;
  readonly driver?: BalloonDriverOptions;
  /** Simulated time per vCPU step. */
  readonly stepMs?: number;
  /** vCPUs the guest has (1 by default): the balloon's worker shares them with the workload's threads. */
  readonly vcpus?: number;
  /**
   * What a vCPU gets done on the host (a host profile's `guest`): with it, the balloon driver's
   * work costs guest time. Without it, that work is free.
   */
  readonly cpu?: GuestCpuCosts;
  /** The host's cores, shared with a migration's threads: a busy host slows the guest's work. */
  readonly host?: HostCpus;
  /**
   * Serve the free page queue like QEMU's iothread: kicks wait until the start of the next
   * step, so a backlog of buffers can meet a hint state that changed in between (H4).
   */
  readonly lazyHintQueue?: boolean;
}

const MiB = 1 << 20;
/** The smallest guest: the kernel's image is loaded at 16 MiB and takes 16 MiB. */
export const MIN_RAM_BYTES = 32 * MiB;
/** The largest guest the simulator runs (its allocator and bitmaps are sized for it). */
export const MAX_RAM_BYTES = 2 ** 40;
/** KVM's limit on vCPUs per VM (KVM_MAX_VCPUS on x86). */
export const MAX_VCPUS = 1024;

/**
 * Where Linux on x86 keeps its own memory, as [first pfn, count) ranges: the first MiB
 * (firmware, real-mode area), the kernel image where it is loaded (16 MiB up: the physical
 * start of an x86-64 kernel; 24 MiB of text, data and initial tables for a Debian 6.1 kernel,
 * as a dump of such a guest's RAM shows), and the memory map, one 64-byte struct page per
 * 4 KiB page (1/64 of RAM), which memblock hands out from the top of RAM down. A guest too
 * small for the whole image keeps all of its RAM from 16 MiB up.
 */
export function kernelReserved(ramBytes: number): Array<[number, number]> {
  const pages = ramBytes / PAGE_SIZE;
  const firmware = MiB / PAGE_SIZE;
  const imageStart = (16 * MiB) / PAGE_SIZE;
  const memmap = Math.ceil(ramBytes / 64 / PAGE_SIZE);
  const image = Math.min((24 * MiB) / PAGE_SIZE, pages - memmap - imageStart);
  return [
    [0, firmware],
    [imageStart, Math.max(0, image)],
    [pages - memmap, memmap],
  ];
}

/** The shape of a saved balloon (it came through a verified stream, from our own source). */
function isBalloonState(value: unknown): value is BalloonState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['core'] === 'object' && v['core'] !== null && typeof v['numPages'] === 'number' && typeof v['actual'] === 'number' && Array.isArray(v['inflated']) && typeof v['hint'] === 'object';
}

function makeMemory(kind: MemoryKind, ramBytes: number, seed: number): GuestMemory {
  switch (kind) {
    case 'flat':
      return new FlatMemory(ramBytes);
    case 'sparse':
      return new SparseMemory(ramBytes);
    case 'compact':
      return new CompactMemory({ regions: ramBytes, patternSeed: seed });
  }
}

/**
 * A small VMM: guest memory, the guest kernel with its workload and balloon driver, and the
 * balloon device behind a virtio-mmio transport, on a simulated clock. The guest reaches the
 * device only through the transport's registers and rings in guest memory; interrupts are
 * level-triggered and delivered between vCPU steps, as a real interrupt would arrive between
 * instructions, never in the middle of a device access.
 */
export class Vm {
  /** The host RAM the guest runs in (a destination's after {@link switchOver}). */
  memory: GuestMemory;
  readonly kernel: GuestKernel;
  device: BalloonDevice;
  transport: MmioTransport;
  /** Hypervisor overlay pages over guest RAM. */
  overlays: OverlayManager;
  readonly driver: BalloonDriver;
  readonly workload: Workload;
  readonly stepMs: number;
  readonly vcpus: number;
  /** The host's cores (shared with a migration that is given the same object). */
  readonly host: HostCpus;
  /** Simulated milliseconds since boot. */
  clockMs = 0;
  /**
   * With `lazyHintQueue`: while true, the iothread does not get to the free page queue at all
   * (fault injection: a stalled or descheduled host thread).
   */
  iothreadStalled = false;
  private vcpusRunning = true;
  private devicesRunning = true;
  private irqHigh = false;
  /** The guest's view of its RAM: it follows the guest to another host at switchover. */
  private readonly guestMemory: MovableMemory;
  private readonly balloonOptions: BalloonOptions;
  private irqSubscription: Subscription;
  private readonly lazyHintQueue: boolean;
  private pendingKicks: number[] = [];

  constructor(options: VmOptions) {
    if (!Number.isSafeInteger(options.ramBytes) || options.ramBytes % (4 * MiB) !== 0 || options.ramBytes < MIN_RAM_BYTES || options.ramBytes > MAX_RAM_BYTES) {
      throw new RangeError(`guest RAM of ${options.ramBytes} bytes: expected a multiple of 4 MiB from 32 MiB (the kernel's image ends there) to 1 TiB`);
    }
    const vcpus = options.vcpus ?? 1;
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) throw new RangeError(`${vcpus} vCPUs: expected a whole number from 1 to ${MAX_VCPUS}`);
    this.vcpus = vcpus;
    this.host = options.host ?? new HostCpus(Number.MAX_SAFE_INTEGER);
    this.workload = options.workload ?? idle();
    this.stepMs = options.stepMs ?? 1;
    this.memory = makeMemory(options.memory ?? 'compact', options.ramBytes, options.seed);
    this.guestMemory = new MovableMemory(this.memory);
    this.kernel = new GuestKernel({
      memory: this.guestMemory,
      seed: options.seed,
      freePolicy: options.freePolicy ?? this.workload.freePolicy ?? 'none',
      initOnAlloc: options.initOnAlloc ?? true,
      maxOrder: options.maxOrder ?? 10,
      reserved: kernelReserved(options.ramBytes),
    });
    this.overlays = new OverlayManager(this.memory);
    this.balloonOptions = options.balloon ?? { statsQueue: true, deflateOnOom: true, mustTellHost: true, freePageHint: true };
    this.device = new BalloonDevice(this.memory, this.balloonOptions);
    this.transport = new MmioTransport(this.device);
    this.irqSubscription = this.device.irqLevel$.subscribe((high) => (this.irqHigh = high));
    const pages = this.kernel.pages;
    this.lazyHintQueue = options.lazyHintQueue ?? false;
    // The guest's MMIO accesses reach whichever transport the VM has now.
    const bus = { read: (offset: number, size: number) => this.transport.read(offset, size), write: (offset: number, size: number, value: number) => this.mmioWrite(offset, size, value) };
    this.driver = new BalloonDriver(
      new MmioDriver(bus, this.guestMemory),
      this.guestMemory,
      pages,
      {
        ...(this.kernel.pages.freePolicy === 'zero' ? { initOnFree: true } : {}),
        ...(this.kernel.pages.freePolicy === 'poison' ? { pagePoisoning: true } : {}),
        ...(options.cpu ? { cpu: options.cpu } : {}),
        ...options.driver,
      },
      () => ({
        freeBytes: pages.freePages * PAGE_SIZE,
        totalBytes: pages.managedPages * PAGE_SIZE,
        availableBytes: pages.freePages * PAGE_SIZE,
        cacheBytes: 0,
        majorFaults: 0,
        minorFaults: 0,
      }),
    );
    this.kernel.registerShrinker((wanted) => this.driver.shrink(wanted));
    this.kernel.registerOomNotifier(() => this.driver.deflateOnOom());
  }

  /** The device a migration takes free page hints from: the balloon. */
  get hints(): HintSource {
    return this.device;
  }

  /** Whether the guest's balloon driver runs free page reporting. */
  get reportsFreePages(): boolean {
    return this.device.hasNegotiated(BalloonFeature.PAGE_REPORTING);
  }

  /** Whether the vCPUs run (false between pause and resume: the guest can do nothing). */
  get running(): boolean {
    return this.vcpusRunning;
  }

  /** Probe the balloon and boot the workload. Returns false when the driver failed to probe. */
  boot(): boolean {
    if (!this.driver.probe()) return false;
    this.workload.boot(this.kernel);
    this.settle();
    return true;
  }

  /** Run the guest for `ms` of simulated time in vCPU steps. */
  run(ms: number): void {
    for (let elapsed = 0; elapsed < ms; elapsed += this.stepMs) this.step();
  }

  /**
   * One vCPU step: pending interrupts, the balloon's work, then the workload. While nothing is
   * due but the workload's own steps — it is quiet, or it only writes within its
   * {@link Workload.writeSpan} — the guest runs as many steps as fit in `maxMs` at once, which
   * leaves it exactly as stepping them one by one would. Returns the simulated ms that passed.
   */
  step(maxMs = this.stepMs): number {
    // One step is always stepped in full: that is what sleeping is checked against.
    const quiet = maxMs > this.stepMs ? this.quietSteps(Math.ceil(maxMs / this.stepMs), Number.POSITIVE_INFINITY) : 0;
    if (quiet === 0) return this.stepOnce();
    for (let i = 0; i < quiet; i++) {
      // Nothing is due: only the workload's own clock moves, and its writes land.
      if (this.vcpusRunning) this.workload.step(this.kernel, this.stepMs);
      this.clockMs += this.stepMs;
    }
    return quiet * this.stepMs;
  }

  /**
   * How long (whole steps, counting at most about `maxMs`) the guest will certainly do nothing
   * the host can see — no device access, no memory write except to pages below `fromPfn` —
   * unless the host reaches it first: no interrupt pending, no balloon work queued or timed, a
   * workload that says it is quiet or writes only below `fromPfn`. Pages from `fromPfn` on read
   * the same at any instant of that time.
   */
  quietMs(maxMs: number, fromPfn = 0): number {
    return this.quietSteps(Math.max(1, Math.ceil(maxMs / this.stepMs)), fromPfn) * this.stepMs;
  }

  /** How many of the next steps (at most `max`) are certain to do nothing the host can see but write pages below `fromPfn`. */
  protected quietSteps(max: number, fromPfn: number): number {
    const kicksDue = this.pendingKicks.length > 0 && !this.iothreadStalled;
    if (!this.vcpusRunning) return this.devicesRunning && kicksDue ? 0 : max;
    if (kicksDue || (this.devicesRunning && this.irqHigh)) return 0;
    const span = this.workload.writeSpan?.();
    const steps = span !== undefined && span.end <= fromPfn ? max : (this.workload.quietSteps?.(this.stepMs, max) ?? 0);
    // The driver's own timer (free page reporting) ends the quiet at the step that reaches it,
    // with the clock summed as stepping sums it.
    const until = this.driver.idleUntilMs();
    let clock = this.clockMs;
    for (let n = 0; n < steps; n++, clock += this.stepMs) if (clock >= until) return n;
    return steps;
  }

  private stepOnce(): number {
    if (this.devicesRunning) this.serveLazyKicks();
    if (this.vcpusRunning) {
      this.deliverInterrupts();
      this.host.busyVcpus = this.busyVcpus();
      this.driver.step(this.clockMs, this.stepMs * this.workerShare() * this.host.share);
      this.workload.step(this.kernel, this.stepMs);
    }
    this.clockMs += this.stepMs;
    return this.stepMs;
  }

  /** vCPUs running guest code: the workload's threads and the balloon's worker while it hints. */
  busyVcpus(): number {
    return Math.min(this.vcpus, (this.workload.threads ?? 0) + (this.driver.hinting ? 1 : 0));
  }

  /**
   * The share of a vCPU the balloon's worker gets: a whole one while the workload's threads
   * leave one free, else an equal share beside them (the scheduler's fair share).
   */
  workerShare(): number {
    return Math.min(1, this.vcpus / ((this.workload.threads ?? 0) + 1));
  }

  /** State that travels with a migration besides RAM: the balloon's. */
  deviceStates(): Record<string, unknown> {
    return { balloon: this.device.save() };
  }

  /**
   * Switchover: the guest continues on the destination's RAM with devices rebuilt there from
   * the migrated device state. The guest's own state (its kernel, driver and workload) lives in
   * its RAM, so it moves with it. Call {@link resume} to run it.
   */
  switchOver(memory: GuestMemory, devices: ReadonlyMap<string, unknown>): void {
    const state = devices.get('balloon');
    if (!isBalloonState(state)) throw new Error('the migration carried no usable balloon state');
    const device = new BalloonDevice(memory, this.balloonOptions);
    device.restore(state);
    this.irqSubscription.unsubscribe();
    this.device = device;
    this.transport = new MmioTransport(device);
    this.irqSubscription = device.irqLevel$.subscribe((high) => (this.irqHigh = high));
    this.guestMemory.moveTo(memory);
    this.memory = memory;
    this.overlays = new OverlayManager(memory);
    const overlays = devices.get('overlays') as { pages?: OverlayPageState[] } | undefined;
    if (overlays?.pages) this.overlays.restore(overlays.pages);
  }

  /** Let the driver finish what it has queued without the workload running (bounded). */
  settle(maxPasses = 10_000): void {
    for (let pass = 0; pass < maxPasses; pass++) {
      if (this.devicesRunning) this.serveLazyKicks();
      this.deliverInterrupts();
      if (!this.driver.step(this.clockMs, this.stepMs) && !this.irqHigh) return;
    }
  }

  /** Stop the vCPUs, then the devices (interrupts are held while devices are stopped). */
  pause(): void {
    this.vcpusRunning = false;
    this.devicesRunning = false;
  }

  /** Start the devices, then the vCPUs. */
  resume(): void {
    this.devicesRunning = true;
    this.vcpusRunning = true;
  }

  private mmioWrite(offset: number, size: number, value: number): void {
    if (this.lazyHintQueue && offset === MmioReg.QUEUE_NOTIFY && value === this.device.queueIndex('freePage')) {
      this.pendingKicks.push(value);
      return;
    }
    this.transport.write(offset, size, value);
  }

  /** The iothread catches up with the free page queue. */
  private serveLazyKicks(): void {
    // Stryker disable next-line ConditionalExpression: an empty queue serves nothing either; this saves an array per step
    if (this.iothreadStalled || this.pendingKicks.length === 0) return;
    for (const queue of this.pendingKicks.splice(0)) this.transport.write(MmioReg.QUEUE_NOTIFY, 4, queue);
  }

  private deliverInterrupts(): void {
    if (this.devicesRunning && this.irqHigh) this.driver.handleInterrupt();
  }
}
