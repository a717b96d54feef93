import { describe, expect, it } from 'vitest';
import { idle } from '../../src/guest/workloads.js';
import type { MigrationSource } from '../../src/migration/migration-source.js';
import { PrecopyMigration } from '../../src/migration/precopy.js';
import { strategySet } from '../../src/migration/strategies.js';
import { Vm } from '../../src/sim/vm.js';
import { FreePageHint } from '../../src/virtio/balloon/free-page-hint.js';
import { freshDestination, lostPages, MiB, RAM } from './support.js';

/** A device that starts a round on whatever command id the driver sends. */
class NoIdCheck extends FreePageHint {
  override command(id: number): ReturnType<FreePageHint['command']> {
    return super.command(this.state === 'requested' && id > 1 ? this.cmdId : id);
  }
}

/**
 * H4/H6 directed. The device serves the free page queue from an iothread that stalls. The
 * driver starts a round under id Y: its command and first block B wait in the backlog. Memory
 * pressure makes the shrinker hand B back and the guest keeps writing it. The host syncs (B is
 * dirty) and issues id Z; then the iothread catches up. The backlog's stale Y must not start
 * the round, or B's hint clears the write from the bitmap and B never reaches the destination.
 */
function staleBacklog(hintProtocol: FreePageHint): number[] {
  const vm = new Vm({
    ramBytes: RAM,
    seed: 5,
    memory: 'compact',
    initOnAlloc: false,
    // Dirtying close to the link speed keeps rounds long enough for guest steps in each.
    workload: idle({ residentBytes: 8 * MiB, bootChurnBytes: 0, dirtyBytesPerSec: 200 * MiB, zeroedFraction: 0 }),
    lazyHintQueue: true,
    maxOrder: 4,
    driver: { hintBlocksPerStep: 1 },
    balloon: { statsQueue: true, deflateOnOom: true, mustTellHost: true, freePageHint: true, hintProtocol },
  });
  vm.boot();
  let trap: { pfn: number; idAtTrap: number } | undefined;
  let released = false;
  const source: MigrationSource = {
    memory: vm.memory,
    hints: vm.device,
    reportsFreePages: false,
    pause: () => vm.pause(),
    resume: () => vm.resume(),
    deviceStates: () => vm.deviceStates(),
    step: () => {
      // The host moved on to a new id since the trap: the iothread catches up now.
      if (trap && !released && vm.device.hintCmdId !== trap.idAtTrap) {
        released = true;
        vm.iothreadStalled = false;
      }
      const roundsBefore = vm.driver.rounds.length;
      const ms = vm.step();
      const round = vm.driver.rounds.at(-1);
      if (!trap && roundsBefore >= 1 && vm.driver.rounds.length > roundsBefore && round && round.blocks.length > 0) {
        // The second round's first step: stall the iothread with [cmd, B] in its backlog.
        vm.iothreadStalled = true;
        vm.driver.shrink(1 << vm.driver.hintOrder);
        // The block just given back is the first one handed out again (LIFO free lists).
        const pfn = vm.kernel.allocPages(vm.driver.hintOrder)!;
        expect(pfn).toBe(round.blocks[0]);
        trap = { pfn, idAtTrap: vm.device.hintCmdId };
      }
      if (trap && !released) {
        vm.kernel.writePage(trap.pfn);
        // The kernel also rewrites its first MiB, below B: after the sync those pages come first,
        // so the new round's first batch does not reach B before the iothread catches up.
        for (let pfn = 0; pfn < 256; pfn++) vm.kernel.writePage(pfn);
      }
      return ms;
    },
  };
  const destination = freshDestination(5);
  const incoming = destination.incoming();
  new PrecopyMigration(source, {
    strategies: strategySet('zero+hint'),
    destinationFresh: true,
    sink: (c) => incoming.push(c),
    cost: { bandwidth: 4e8 },
    // Never converge early: run all rounds.
    downtimeLimitMs: -1,
    maxRounds: 8,
  }).run();
  incoming.finish();
  expect(trap).toBeDefined();
  expect(released).toBe(true);
  return lostPages(vm, destination);
}

describe('a stale command id in a stalled backlog', () => {
  it('is ignored by the device: nothing is lost', () => {
    expect(staleBacklog(new FreePageHint())).toEqual([]);
  });

  it('accepted by a device without the id check, loses the page written after it was hinted', () => {
    expect(staleBacklog(new NoIdCheck()).length).toBeGreaterThan(0);
  });
});
