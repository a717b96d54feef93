/**
 * The worst single kick a hostile guest can make: rings filled to the brim with the largest
 * chains each balloon queue accepts, every buffer aliasing the same bytes, then one write to
 * QueueNotify. Prints the wall time and heap growth of that one register write, per queue.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { layoutRing, type RingLayout } from '../src/guest/driver-queue.js';
import { MmioDriver } from '../src/guest/mmio-driver.js';
import { FlatMemory } from '../src/memory/flat-memory.js';
import type { GuestMemory } from '../src/memory/guest-memory.js';
import { BalloonDevice } from '../src/virtio/balloon/balloon-device.js';
import { BALLOON_CHAIN_LIMITS } from '../src/virtio/balloon/chain-limits.js';
import type { BalloonQueueRole } from '../src/virtio/balloon/constants.js';
import { DescFlag, Feature, featureBit } from '../src/virtio/constants.js';
import { MmioReg, MmioTransport } from '../src/virtio/transport/mmio.js';
import type { Benchmark, Figure } from './harness.js';

const MiB = 1 << 20;
/** The guest: 32 MiB of RAM. */
const RAM = 32 * MiB;
const RING = 0x10000;
const TABLES = 0x100000;
const DATA = 0x400000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Setup {
  memory: GuestMemory;
  device: BalloonDevice;
  mmio: MmioTransport;
  layout: RingLayout;
  index: number;
}

/** A live balloon with every queue negotiated, `role`'s ring at RING with the device's maximum size. */
function live(role: BalloonQueueRole): Setup {
  const memory = new FlatMemory(RAM);
  // A guest that has used its memory: the host's pages exist (discarding them faults none in).
  memory.fill(0, RAM, 0x5a);
  const device = new BalloonDevice(memory, { statsQueue: true, freePageHint: true, pageReporting: true });
  const mmio = new MmioTransport(device);
  const driver = new MmioDriver(mmio, memory);
  driver.negotiate((offered) => offered & ~featureBit(Feature.EVENT_IDX));
  const index = device.queueIndex(role)!;
  const layout = layoutRing(RING, device.queues[index]!.maxSize);
  driver.setupQueue(index, layout);
  driver.driverOk();
  return { memory, device, mmio, layout, index };
}

function writeDesc(m: GuestMemory, at: number, gpa: number, len: number, flags: number, next: number): void {
  m.writeU64(at, gpa);
  m.writeU32(at + 8, len);
  m.writeU16(at + 12, flags);
  m.writeU16(at + 14, next);
}

/**
 * Fill the whole ring: every avail entry is head 0, an indirect table of the queue's most
 * buffers of `maxBytes / maxSegments` bytes each, in RAM above DATA where they fit and aliasing
 * each other where they do not (device-writable if `write`).
 * With `command`, the first entry is head 1 instead: a chain of that 4-byte command id.
 */
function fill(s: Setup, role: BalloonQueueRole, write: boolean, command?: number): void {
  const { maxSegments, maxBytes } = BALLOON_CHAIN_LIMITS[role];
  const piece = Math.floor(maxBytes / maxSegments);
  // Spread over the RAM above DATA where they fit, so that big ones do not stay in cache.
  const slots = Math.max(1, Math.floor((RAM - DATA) / piece));
  for (let i = 0; i < maxSegments; i++) {
    const last = i === maxSegments - 1;
    writeDesc(s.memory, TABLES + 16 * i, DATA + (i % slots) * piece, piece, (write ? DescFlag.WRITE : 0) | (last ? 0 : DescFlag.NEXT), last ? 0 : i + 1);
  }
  writeDesc(s.memory, s.layout.descTable, TABLES, 16 * maxSegments, DescFlag.INDIRECT, 0);
  for (let i = 0; i < s.layout.size; i++) s.memory.writeU16(s.layout.availRing + 4 + 2 * i, 0);
  if (command !== undefined) {
    s.memory.writeU32(TABLES - 4, command);
    writeDesc(s.memory, s.layout.descTable + 16, TABLES - 4, 4, 0, 0);
    s.memory.writeU16(s.layout.availRing + 4, 1);
  }
  s.memory.writeU16(s.layout.availRing + 2, s.layout.size);
}

interface Kick {
  /** Wall time of the write: the worst of the runs, and their median. */
  readonly worstMs: number;
  readonly medianMs: number;
  /** The largest growth of heap and array buffers across the write (no GC forced inside). */
  readonly bytes: number;
  /** Chains returned to the used ring by the write. */
  readonly chains: number;
}

/** One QueueNotify write on `repeats` fresh setups, the first of them with cold code. */
function measureKick(role: BalloonQueueRole, repeats: number, prepare: (s: Setup) => void): Kick {
  const times: number[] = [];
  let bytes = 0;
  let chains = 0;
  for (let r = 0; r < repeats; r++) {
    const s = live(role);
    prepare(s);
    gc();
    const heap = process.memoryUsage();
    const start = performance.now();
    s.mmio.write(MmioReg.QUEUE_NOTIFY, 4, s.index);
    times.push(performance.now() - start);
    const after = process.memoryUsage();
    bytes = Math.max(bytes, after.heapUsed + after.arrayBuffers - heap.heapUsed - heap.arrayBuffers);
    if (s.device.needsResetReason) throw new Error(`${role}: ${s.device.needsResetReason.message}`);
    chains = s.memory.readU16(s.layout.usedRing + 2);
  }
  times.sort((a, b) => a - b);
  return { worstMs: times[times.length - 1]!, medianMs: times[times.length >> 1]!, bytes, chains };
}

const PFNS = (s: Setup): void => {
  // One page of distinct RAM PFNs, which every buffer of every chain aliases.
  for (let i = 0; i < 1024; i++) s.memory.writeU32(DATA + 4 * i, 0x800 + i);
};

export const kick: Benchmark = {
  name: 'kick',
  figures({ quick }) {
    const repeats = quick ? 2 : 9;
    const cases: Array<[BalloonQueueRole, string, (s: Setup) => void]> = [
      ['inflate', 'inflate, 128 chains of 8 buffers over one page of 1024 PFNs', (s) => (PFNS(s), fill(s, 'inflate', false))],
      ['deflate', 'deflate, the same', (s) => (PFNS(s), fill(s, 'deflate', false))],
      ['stats', 'stats, 128 chains of 8 buffers of 20 bytes', (s) => fill(s, 'stats', false)],
      ['freePage', 'free page hints, a START then 1023 chains of 8 hint buffers of 512 KiB', (s) => fill(s, 'freePage', true, s.device.startHinting())],
      ['reporting', 'reporting, 32 chains of 32 blocks of 4 MiB aliasing 7 in RAM (128 MiB discarded each)', (s) => fill(s, 'reporting', true)],
    ];
    const figures: Figure[] = [];
    for (const [role, label, prepare] of cases) {
      const k = measureKick(role, repeats, prepare);
      figures.push({
        name: `worst single kick, ${label}: one QueueNotify write`,
        value: k.worstMs,
        unit: 'ms',
        note: `median ${k.medianMs.toFixed(2)} ms of ${repeats}, heap growth ${(k.bytes / 2 ** 20).toFixed(2)} MiB, ${k.chains} chains returned, ${RAM / MiB} MiB guest`,
      });
    }
    return figures;
  },
};
