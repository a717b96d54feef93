import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Workload } from '../../src/guest/workloads.js';
import { Vm } from '../../src/sim/vm.js';
import { FreePageHint } from '../../src/virtio/balloon/free-page-hint.js';
import { runs } from '../support/runs.js';

// Free page hinting lends the host blocks the guest keeps out of its allocator: the driver
// holds each hinted block until the host says DONE. A host STOP in the middle of a round, a
// balloon resize, a new round and every other config change make the driver re-read the
// config; none of them may give the blocks back. Only DONE does (or the shrinker under memory
// pressure, which these guests never meet: nothing but the balloon allocates).

const MiB = 1 << 20;
const ORDER = 4;

/** A workload that does nothing: only the balloon driver allocates. */
const still: Workload = { name: 'still', boot() {}, step() {} };

type Event = { kind: 'stop' } | { kind: 'start' } | { kind: 'target'; pages: number } | { kind: 'run'; ms: number } | { kind: 'stats' };

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.constant<Event>({ kind: 'stop' }),
  fc.constant<Event>({ kind: 'start' }),
  fc.integer({ min: 0, max: 2048 }).map((pages): Event => ({ kind: 'target', pages })),
  fc.integer({ min: 1, max: 20 }).map((ms): Event => ({ kind: 'run', ms })),
  fc.constant<Event>({ kind: 'stats' }),
);

function guest(seed: number, hintProtocol?: FreePageHint): Vm {
  const vm = new Vm({
    ramBytes: 64 * MiB,
    seed,
    memory: 'sparse',
    maxOrder: ORDER,
    workload: still,
    balloon: { freePageHint: true, statsQueue: true, mustTellHost: true, queueSizes: { freePage: 16 }, ...(hintProtocol ? { hintProtocol } : {}) },
    // A few blocks per pass, so that rounds are still running when the host acts.
    driver: { hintBlocksPerStep: 3 },
  });
  expect(vm.boot()).toBe(true);
  return vm;
}

/** Blocks held before that are not held now: what the driver gave back. */
function released(before: ReadonlySet<number>, vm: Vm): number[] {
  const now = new Set(vm.driver.heldBlockList);
  return [...before].filter((head) => !now.has(head));
}

function heldUntilDone(makeHint: () => FreePageHint | undefined): fc.IProperty<[number, Event[]]> {
  return fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.array(event, { minLength: 1, maxLength: 25 }), (seed, events) => {
    const vm = guest(seed, makeHint());
    vm.device.startHinting();
    vm.run(2);
    expect(vm.driver.heldPages, 'blocks held once the first round runs').toBeGreaterThan(0);
    let held = new Set(vm.driver.heldBlockList);
    for (const e of events) {
      if (e.kind === 'stop') vm.device.stopHinting();
      else if (e.kind === 'start') vm.device.startHinting();
      else if (e.kind === 'target') vm.device.setTarget(e.pages);
      else if (e.kind === 'stats') vm.device.requestStats();
      vm.run(e.kind === 'run' ? e.ms : 1);
      const gone = released(held, vm);
      if (gone.length > 0) throw new Error(`held blocks given back before DONE, after ${e.kind}: ${gone.slice(0, 4).join(', ')}`);
      held = new Set(vm.driver.heldBlockList);
    }
    vm.device.doneHinting();
    vm.settle();
    expect(vm.driver.heldPages, 'pages still held after DONE').toBe(0);
  });
}

describe('hinted blocks stay held until DONE', () => {
  it('through host stops mid-round, resizes, new rounds and every config re-read, and all come back at DONE', () => {
    fc.assert(
      heldUntilDone(() => undefined),
      { numRuns: runs(40) },
    );
  });

  it('a resize in the middle of a round re-reads the config and keeps the round and its blocks', () => {
    const vm = guest(1);
    const id = vm.device.startHinting();
    vm.run(2);
    const held = new Set(vm.driver.heldBlockList);
    expect(held.size).toBeGreaterThan(0);
    vm.device.setTarget(512);
    vm.run(3);
    expect(vm.driver.inflatedPages, 'the driver acted on the resize').toBeGreaterThan(0);
    expect(released(held, vm)).toEqual([]);
    expect(vm.driver.rounds.at(-1)?.cmdId).toBe(id);
    vm.device.stopHinting();
    vm.run(3);
    expect(released(held, vm)).toEqual([]);
    vm.device.doneHinting();
    vm.settle();
    expect(vm.driver.heldPages).toBe(0);
  });

  it('catches a device that reads DONE when the host only stops', () => {
    class StopMeansDone extends FreePageHint {
      override stop(): boolean {
        return this.done();
      }
    }
    const result = fc.check(
      heldUntilDone(() => new StopMeansDone()),
      { numRuns: 40, seed: 41 },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/held blocks given back before DONE/);
    // The driver acts at its next pass, so the loss shows at the event after the host's stop.
    expect(fc.stringify(result.counterexample)).toMatch(/"kind":"stop"/);
  });
});
