/**
 * One idle guest of the size given in bytes, in a process of its own so that its peak RSS is
 * its own. With no strategy: boot, then one hint round over all free memory. With a strategy:
 * boot, then migrate it with that strategy; with `quiet` after it, the guest writes nothing in
 * the background. Prints its figures as JSON.
 */
import { idle } from '../src/guest/workloads.js';
import { CompactMemory } from '../src/memory/compact/compact-memory.js';
import { Destination } from '../src/migration/destination.js';
import { migrate } from '../src/sim/migrate.js';
import { Vm } from '../src/sim/vm.js';

const ramBytes = Number(process.argv[2]);
const strategy = process.argv[3];
const quiet = process.argv[4] === 'quiet';
const started = performance.now();
const vm = new Vm({
  ramBytes,
  seed: 1,
  memory: 'compact',
  initOnAlloc: false,
  ...(quiet ? { workload: idle({ dirtyBytesPerSec: 0 }) } : {}),
  ...(strategy?.includes('report') ? { balloon: { freePageHint: true, pageReporting: true } } : {}),
});
if (!vm.boot()) throw new Error('balloon probe failed');
const bootMs = performance.now() - started;
if (strategy === undefined) {
  // One hint round over all free memory, as the first precopy round would ask for.
  vm.device.startHinting();
  vm.settle(1_000_000);
  const hintMs = performance.now() - started - bootMs;
  console.log(JSON.stringify({ bootMs, hintMs, heldPages: vm.driver.heldPages, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
} else {
  const destination = new Destination(new CompactMemory({ regions: ramBytes, patternSeed: 1 }));
  const migrateStarted = performance.now();
  const m = migrate(vm, destination, { strategies: strategy, downtimeLimitMs: 2000 });
  const migrateMs = performance.now() - migrateStarted;
  if (m.error) throw m.error;
  console.log(JSON.stringify({ bootMs, migrateMs, simulatedMs: m.result.totalMs, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
}
