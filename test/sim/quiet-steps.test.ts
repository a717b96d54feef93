import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idle } from '../../src/guest/workloads.js';
import { Vm } from '../../src/sim/vm.js';
import { runs } from '../support/runs.js';

// A quiet guest sleeps through its steps at once (Vm.step(maxMs)). That must leave it exactly
// as stepping one by one does, whatever the host does in between: start, stop and finish hint
// rounds, ask for statistics, move the balloon target, pause and resume.

const MiB = 1 << 20;

type HostAction = { readonly kind: 'run'; readonly maxMs: number } | { readonly kind: 'hint' | 'stop' | 'done' | 'stats' | 'pause' | 'resume' } | { readonly kind: 'target'; readonly pages: number };

const hostAction: fc.Arbitrary<HostAction> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('run' as const), maxMs: fc.integer({ min: 1, max: 2500 }) }) },
  fc.record({ kind: fc.constantFrom('hint' as const, 'stop' as const, 'done' as const, 'stats' as const, 'pause' as const, 'resume' as const) }),
  fc.record({ kind: fc.constant('target' as const), pages: fc.integer({ min: 0, max: 2048 }) }),
);

interface Guest {
  readonly seed: number;
  readonly dirtyBytesPerSec: number;
  readonly pageReporting: boolean;
  /** Hint blocks the driver reports per step: a few keeps a hint round running across steps. */
  readonly hintBlocksPerStep: number;
}

const guest: fc.Arbitrary<Guest> = fc.record({
  seed: fc.nat(1000),
  dirtyBytesPerSec: fc.constantFrom(0, 100_000, 1 * MiB, 16 * MiB),
  pageReporting: fc.boolean(),
  hintBlocksPerStep: fc.constantFrom(1, 4, Number.POSITIVE_INFINITY),
});

/** A VM that sleeps through steps its driver or an interrupt needed: what the property must catch. */
class OversleepingVm extends Vm {
  protected override quietSteps(max: number, fromPfn: number): number {
    return this.running ? Math.max(super.quietSteps(max, fromPfn), max) : super.quietSteps(max, fromPfn);
  }
}

function boot(g: Guest, make: typeof Vm = Vm): { vm: Vm; seen: string[] } {
  const vm = new make({
    ramBytes: 64 * MiB,
    seed: g.seed,
    workload: idle({ residentBytes: 8 * MiB, bootChurnBytes: 4 * MiB, dirtyBytesPerSec: g.dirtyBytesPerSec }),
    balloon: { statsQueue: true, deflateOnOom: true, mustTellHost: true, freePageHint: true, pageReporting: g.pageReporting },
    driver: { hintBlocksPerStep: g.hintBlocksPerStep },
  });
  const seen: string[] = [];
  vm.device.hints$.subscribe((b) => seen.push(`hint ${b.cmdId} ${b.ranges.map((r) => `${r.gpa}+${r.length}`).join(',')}`));
  vm.memory.dirtyLog.enable();
  if (!vm.boot()) throw new Error('the balloon did not probe');
  return { vm, seen };
}

/** What the host can see of the guest: its clock, what it wrote since the last look, what the balloon holds. */
function look(vm: Vm, seen: string[]): string {
  const dirty: number[] = [];
  vm.memory.dirtyLog.drain((w, word) => dirty.push(w, word));
  const { heldPages, inflatedPages, rounds } = vm.driver;
  return `${vm.clockMs} | ${dirty.join(',')} | ${seen.splice(0).join(';')} | held ${heldPages} inflated ${inflatedPages} rounds ${rounds.length} | written ${vm.kernel.counters.pagesWritten} free ${vm.kernel.pages.freePages}`;
}

function act(vm: Vm, a: HostAction): void {
  if (a.kind === 'hint') vm.device.startHinting();
  else if (a.kind === 'stop') vm.device.stopHinting();
  else if (a.kind === 'done') vm.device.doneHinting();
  else if (a.kind === 'stats') vm.device.requestStats();
  else if (a.kind === 'target') vm.device.setTarget(a.pages);
  else if (a.kind === 'pause') vm.pause();
  else if (a.kind === 'resume') vm.resume();
}

/** Play `actions` on two copies of the guest, one sleeping through quiet steps, one stepping; true when the host sees the same. */
function sameAsStepping(g: Guest, actions: readonly HostAction[], make: typeof Vm = Vm): boolean {
  const atOnce = boot(g, make);
  const single = boot(g);
  for (const a of actions) {
    if (a.kind === 'run') {
      // Run `maxMs` as a migration charges it: the guest runs while it owes time.
      for (let owed = a.maxMs; owed > 0; ) owed -= atOnce.vm.step(owed);
      while (single.vm.clockMs < atOnce.vm.clockMs) single.vm.step();
    } else {
      act(atOnce.vm, a);
      act(single.vm, a);
    }
    if (look(atOnce.vm, atOnce.seen) !== look(single.vm, single.seen)) return false;
  }
  return true;
}

describe('quiet guest steps', () => {
  it('sleeping through quiet steps leaves the guest exactly as stepping them one by one', () => {
    fc.assert(
      fc.property(guest, fc.array(hostAction, { minLength: 1, maxLength: 12 }), (g, actions) => {
        expect(sameAsStepping(g, actions), 'the guest slept through steps into another state than stepping them').toBe(true);
      }),
      { numRuns: runs(40) },
    );
  });

  it('an idle guest is quiet between its writes, and a guest with work queued is not', () => {
    const { vm } = boot({ seed: 1, dirtyBytesPerSec: 1 * MiB, pageReporting: false, hintBlocksPerStep: 4 });
    // 1 MiB/s is a page every 3.9 ms: never more than 4 quiet steps in a row.
    const quiet = Array.from({ length: 50 }, () => {
      const q = vm.quietMs(1000);
      vm.step();
      return q;
    });
    expect(Math.max(...quiet)).toBeLessThanOrEqual(4);
    expect(quiet.filter((q) => q > 0).length).toBeGreaterThan(25);
    vm.device.startHinting(); // a config change: an interrupt for the guest
    expect(vm.quietMs(1000)).toBe(0);
    vm.pause();
    expect(vm.quietMs(1000)).toBe(1000);
  });

  it('the property catches a guest that sleeps through its interrupts and timers', () => {
    const failure = fc.check(
      fc.property(guest, fc.array(hostAction, { minLength: 1, maxLength: 12 }), (g, actions) => {
        expect(sameAsStepping(g, actions, OversleepingVm), 'the guest slept through steps into another state than stepping them').toBe(true);
      }),
      { numRuns: 200, seed: 7 },
    );
    expect(failure.failed).toBe(true);
    expect(String(failure.errorInstance)).toMatch(/the guest slept through steps into another state than stepping them/);
  });
});
