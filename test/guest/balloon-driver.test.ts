import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Workload } from '../../src/guest/workloads.js';
import { Vm } from '../../src/sim/vm.js';
import { DescFlag } from '../../src/virtio/constants.js';
import { MmioReg } from '../../src/virtio/transport/mmio.js';
import { runs } from '../support/runs.js';

// Driver and device together, through the mmio transport and rings in guest memory, under
// random interleavings of host requests, guest allocation and pressure. The invariants are the
// free-page-hint contract as seen from outside: what the device publishes, what the driver
// holds, and what the driver put on the ring.

const MiB = 1 << 20;
const ORDER = 4; // small hint blocks, so that a guest has many of them

/** A workload the test drives by hand: it owns blocks and writes them. */
class Hand implements Workload {
  readonly name = 'hand';
  readonly owned = new Map<number, number>(); // head pfn -> order
  boot(): void {}
  step(): void {}
}

/** What the driver said on the free page queue, decoded from the ring as a device would. */
type Message = { cmd: number } | { hint: [number, number] } | { reset: true };

interface Sys {
  vm: Vm;
  hand: Hand;
  messages: Message[];
  violations: string[];
  /** Pages the kernel and driver took for themselves at boot (rings, buffers). */
  baseline: number;
}

function sniffFreePageQueue(vm: Vm, messages: Message[]): void {
  const transport = vm.transport;
  const write = transport.write.bind(transport);
  let seen = 0;
  transport.write = (offset: number, size: number, value: number): void => {
    const index = vm.device.queueIndex('freePage');
    if (offset === MmioReg.STATUS && value === 0) {
      seen = 0;
      messages.push({ reset: true });
    }
    if (offset === MmioReg.QUEUE_NOTIFY && value === index) {
      const q = vm.device.queues[index]!;
      const m = vm.memory;
      const availIdx = m.readU16(q.availRing + 2);
      for (; seen !== availIdx; seen = (seen + 1) & 0xffff) {
        let desc = m.readU16(q.availRing + 4 + 2 * (seen % q.size));
        for (let hops = 0; hops < q.size; hops++) {
          const at = q.descTable + 16 * desc;
          const addr = m.readU32(at) + m.readU32(at + 4) * 2 ** 32;
          const len = m.readU32(at + 8);
          const flags = m.readU16(at + 12);
          messages.push(flags & DescFlag.WRITE ? { hint: [addr, len] } : { cmd: m.readU32(addr) });
          if (!(flags & DescFlag.NEXT)) break;
          desc = m.readU16(at + 14);
        }
      }
    }
    write(offset, size, value);
  };
}

function heldPages(vm: Vm): Set<number> {
  const pages = new Set<number>();
  for (const head of vm.driver.heldBlockList) for (let p = head; p < head + (1 << ORDER); p++) pages.add(p);
  return pages;
}

function newSys(seed: number): Sys {
  const hand = new Hand();
  const vm = new Vm({
    ramBytes: 64 * MiB,
    seed,
    memory: 'sparse',
    maxOrder: ORDER,
    workload: hand,
    balloon: { freePageHint: true, statsQueue: true, deflateOnOom: true, mustTellHost: true, queueSizes: { freePage: 8 } },
    driver: { hintBlocksPerStep: 3 },
  });
  const sys: Sys = { vm, hand, messages: [], violations: [], baseline: 0 };
  sniffFreePageQueue(vm, sys.messages);
  // Every range published must lie in blocks the driver holds, in its current round, under the
  // id the device has issued, while the device is in START.
  vm.device.hints$.subscribe((batch) => {
    const held = heldPages(vm);
    const round = vm.driver.rounds[vm.driver.rounds.length - 1];
    if (vm.device.hintState !== 'start') sys.violations.push(`hint outside START (${vm.device.hintState})`);
    if (batch.cmdId !== vm.device.hintCmdId || round?.cmdId !== batch.cmdId) sys.violations.push(`hint under id ${batch.cmdId}`);
    for (const r of batch.ranges) {
      for (let p = r.gpa / 4096; p < (r.gpa + r.length) / 4096; p++) {
        if (!held.has(p)) sys.violations.push(`hinted page ${p} is not held`);
        if (!round?.blocks.some((head) => p >= head && p < head + (1 << ORDER))) sys.violations.push(`hinted page ${p} not in this round`);
      }
    }
  });
  expect(vm.boot()).toBe(true);
  const k = vm.kernel.pages;
  sys.baseline = k.allocatedPages - vm.driver.heldPages - vm.driver.inflatedPages;
  return sys;
}

/** The invariants that hold between any two steps. */
function checkInvariants(s: Sys): void {
  expect(s.violations).toEqual([]);
  const held = heldPages(s.vm);
  const ballooned = new Set(s.vm.driver.balloonedPfns);
  let owned = 0;
  for (const [head, order] of s.hand.owned) {
    for (let p = head; p < head + (1 << order); p++) {
      // No page is both the workload's and the balloon's.
      expect(held.has(p), `page ${p} is both held for hinting and the workload's`).toBe(false);
      expect(ballooned.has(p), `page ${p} is both in the balloon and the workload's`).toBe(false);
      owned++;
    }
  }
  // Conservation: free + the workload's + held + ballooned + the driver's own = managed.
  const k = s.vm.kernel.pages;
  expect(k.freePages + owned + held.size + ballooned.size + s.baseline, 'free, owned, held and ballooned pages do not add up to the managed ones').toBe(k.managedPages);
}

/** Every command buffer with an id is followed by a STOP (or a device reset) before the next id (H8). */
function roundsEndWithStop(messages: readonly Message[]): boolean {
  let open = false;
  for (const m of messages) {
    if ('reset' in m) open = false;
    if (!('cmd' in m)) continue;
    if (m.cmd === 0) open = false;
    else if (open) return false;
    else open = true;
  }
  return !open;
}

type Cmd = fc.Command<object, Sys>;
const cmd = (name: string, run: (s: Sys) => void): Cmd => ({
  check: () => true,
  run: (_m, s) => {
    run(s);
    checkInvariants(s);
  },
  toString: () => name,
});

const alloc = (order: number, count: number): Cmd =>
  cmd(`alloc(${order}x${count})`, (s) => {
    for (let i = 0; i < count; i++) {
      const pfn = s.vm.kernel.allocPages(order);
      if (pfn === undefined) return;
      for (let p = pfn; p < pfn + (1 << order); p++) s.vm.kernel.writePage(p);
      s.hand.owned.set(pfn, order);
    }
  });

const free = (pick: number, count: number): Cmd =>
  cmd(`free(${pick},${count})`, (s) => {
    const heads = [...s.hand.owned.keys()];
    for (let i = 0; i < count && heads.length > 0; i++) {
      const head = heads.splice((pick + i) % heads.length, 1)[0]!;
      s.vm.kernel.freePages(head, s.hand.owned.get(head)!);
      s.hand.owned.delete(head);
    }
  });

/** Allocate until memory runs out (shrinker, then deflate-on-OOM), then free it again. */
const pressure = cmd('pressure', (s) => {
  const taken: number[] = [];
  for (let pfn = s.vm.kernel.allocPages(0); pfn !== undefined; pfn = s.vm.kernel.allocPages(0)) {
    taken.push(pfn);
    s.hand.owned.set(pfn, 0);
  }
  checkInvariants(s);
  for (const pfn of taken) {
    s.vm.kernel.freePages(pfn, 0);
    s.hand.owned.delete(pfn);
  }
});

const hostStart = cmd('hostStart', (s) => void s.vm.device.startHinting());
const run = (n: number): Cmd => cmd(`run(${n})`, (s) => s.vm.run(n));

const commands = fc.commands(
  [
    fc.constant(hostStart),
    fc.constant(cmd('hostStop', (s) => s.vm.device.stopHinting())),
    fc.constant(cmd('hostDone', (s) => s.vm.device.doneHinting())),
    fc.integer({ min: 1, max: 40 }).map(run),
    fc.tuple(fc.integer({ min: 0, max: ORDER }), fc.integer({ min: 1, max: 64 })).map(([o, n]) => alloc(o, n)),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })).map(([p, n]) => free(p, n)),
    fc.integer({ min: 0, max: 3000 }).map((pages) => cmd(`target(${pages})`, (s) => s.vm.device.setTarget(pages))),
    fc.constant(pressure),
    fc.constant(
      cmd('freeze/restore', (s) => {
        // Hibernation mid-round: Linux removes the driver (deflating and releasing everything,
        // resetting the device) and probes it again.
        s.vm.driver.remove();
        expect(s.vm.driver.probe()).toBe(true);
      }),
    ),
  ],
  { maxCommands: 30 },
);

/** Stop hinting and let the driver finish: its last round must be closed with a STOP. */
function finish(s: Sys): void {
  s.vm.device.stopHinting();
  s.vm.settle();
  expect(s.vm.driver.hinting).toBe(false);
  expect(roundsEndWithStop(s.messages)).toBe(true);
  s.vm.device.doneHinting();
  s.vm.settle();
  // DONE returns every held block.
  expect(s.vm.driver.heldPages).toBe(0);
  checkInvariants(s);
}

function property(breakIt?: (s: Sys) => void): fc.IProperty<[number, Iterable<Cmd>]> {
  return fc.property(fc.integer({ min: 1, max: 1 << 20 }), commands, (seed, cmds) => {
    const s = newSys(seed);
    breakIt?.(s);
    fc.modelRun(() => ({ model: {}, real: s }), cmds);
    finish(s);
  });
}

describe('balloon driver and device together', () => {
  // 60 runs in four slices from their own seeds, so that no single test runs for long.
  it.each([1, 2, 3, 4])('keep the hint contract under any interleaving of host, guest and pressure (slice %i)', (slice) => {
    fc.assert(property(), { numRuns: Math.ceil(runs(60) / 4), seed: 20_261_124 + slice });
  });

  it('catch a shrinker that frees hinted blocks without telling the driver', () => {
    const leakyShrinker = (s: Sys): void => {
      // Broken: gives a held block back to the allocator but keeps it on the held list.
      s.vm.driver.shrink = (): number => {
        const head = s.vm.driver.heldBlockList[0];
        if (head === undefined) return 0;
        s.vm.kernel.pages.free(head, ORDER);
        return 1 << ORDER;
      };
    };
    // Fixed runs and seed: a broken twin must be caught the same way in every environment; not
    // shrunk (the counterexample is not what is tested here). First the shape that meets the
    // leak (memory pressure while blocks are held), then random ones.
    const result = fc.check(property(leakyShrinker), { numRuns: 20, seed: 5, endOnFailure: true, examples: [[5, [hostStart, run(10), pressure]]] });
    expect(result.failed).toBe(true);
    // The leaked block is freed again when DONE returns it: the allocator refuses the double free.
    expect(String(result.errorInstance)).toMatch(/free of pfn \d+ order 4: not an allocated block of that order/);
  });
});
