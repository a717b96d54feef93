/**
 * One idle guest of the size given in bytes, in a process of its own so that its peak RSS is
 * its own. With no strategy: boot, then one hint round over all free memory. With a strategy:
 * a warm-up migration of a small guest (so neither size pays for compiling the code), then
 * boot and migrate the guest {@link REPETITIONS} times, each on a fresh guest, and report the
 * median wall time with the work the migration did; with `quiet` after it, the guest writes
 * nothing in the background. Prints its figures as JSON.
 */
import { idle } from '../src/guest/workloads.js';
import { CompactMemory } from '../src/memory/compact/compact-memory.js';
import { Destination } from '../src/migration/destination.js';
import { migrate } from '../src/sim/migrate.js';
import { Vm } from '../src/sim/vm.js';

const REPETITIONS = 3;
const WARM_UP_BYTES = 1 << 30;

const ramBytes = Number(process.argv[2]);
const strategy = process.argv[3];
const quiet = process.argv[4] === 'quiet';

function bootGuest(bytes: number): Vm {
  const vm = new Vm({
    ramBytes: bytes,
    seed: 1,
    memory: 'compact',
    initOnAlloc: false,
    ...(quiet ? { workload: idle({ dirtyBytesPerSec: 0 }) } : {}),
    ...(strategy?.includes('report') ? { balloon: { freePageHint: true, pageReporting: true } } : {}),
  });
  if (!vm.boot()) throw new Error('balloon probe failed');
  return vm;
}

/** Migrate a freshly booted guest: its wall time, simulated time and the work it took. */
function migrateOnce(bytes: number, name: string) {
  const vm = bootGuest(bytes);
  let reportedBlocks = 0;
  vm.device.reported$.subscribe((ranges) => (reportedBlocks += ranges.length));
  const destination = new Destination(new CompactMemory({ regions: bytes, patternSeed: 1 }));
  const started = performance.now();
  const m = migrate(vm, destination, { strategies: name, downtimeLimitMs: 2000 });
  const migrateMs = performance.now() - started;
  if (m.error) throw m.error;
  const r = m.result;
  return { migrateMs, simulatedMs: r.totalMs, work: { dataPages: r.dataPages, records: r.records, hintBlocks: r.hintedRanges, reportedBlocks } };
}

if (strategy === undefined) {
  const started = performance.now();
  const vm = bootGuest(ramBytes);
  const bootMs = performance.now() - started;
  // One hint round over all free memory, as the first precopy round would ask for.
  vm.device.startHinting();
  vm.settle(1_000_000);
  const hintMs = performance.now() - started - bootMs;
  console.log(JSON.stringify({ bootMs, hintMs, heldPages: vm.driver.heldPages, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
} else {
  migrateOnce(WARM_UP_BYTES, strategy);
  const runs = Array.from({ length: REPETITIONS }, () => migrateOnce(ramBytes, strategy)).sort((a, b) => a.migrateMs - b.migrateMs);
  const median = runs[REPETITIONS >> 1]!;
  console.log(JSON.stringify({ ...median, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
}
