/** A short balloon session on a simulated guest, told line by line. */
import { Vm } from './vm.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/**
 * A short balloon session on a simulated idle 8 GiB Linux guest: the guest's driver probes the
 * device over virtio-mmio, the host runs a free-page-hint round as a migration's first round
 * would, ends it, releases the hints, then inflates and deflates the balloon and asks for
 * stats. Returns what happened, line by line.
 */
export function runBalloonDemo(seed = 1): string[] {
  const lines: string[] = [];
  const started = performance.now();
  const vm = new Vm({ ramBytes: 8 * GiB, seed, memory: 'compact', driver: { hintBlocksPerStep: 64 } });
  let hintedBytes = 0;
  vm.device.hints$.subscribe((b) => (hintedBytes += b.ranges.reduce((sum, r) => sum + r.length, 0)));
  vm.device.stats$.subscribe((s) => lines.push(`stats: ${((s.freeMemory ?? 0) / MiB).toFixed(0)} MiB free of ${((s.totalMemory ?? 0) / MiB).toFixed(0)} MiB`));
  if (!vm.boot()) return ['the guest balloon driver failed to probe'];
  const pages = vm.kernel.pages;
  lines.push(`booted an idle 8 GiB guest: ${((pages.allocatedPages * 4096) / MiB).toFixed(0)} MiB in use, ${((pages.freePages * 4096) / MiB).toFixed(0)} MiB free`);
  lines.push(`balloon queues (Linux numbering): ${vm.device.queueRoles.join(', ')}`);

  const id = vm.device.startHinting()!;
  vm.run(40);
  lines.push(`hint round 0x${id.toString(16)}: ${(hintedBytes / MiB).toFixed(0)} MiB of free pages hinted in ${vm.clockMs} ms of guest time; the guest holds them`);
  vm.device.stopHinting();
  vm.run(1);
  vm.device.doneHinting();
  vm.run(1);
  lines.push(`DONE: the guest took its ${((pages.freePages * 4096) / MiB).toFixed(0)} MiB back (holds ${vm.driver.heldPages} pages)`);

  vm.device.setTarget((512 * MiB) / 4096);
  vm.run(200);
  lines.push(`inflate to 512 MiB: actual = ${vm.device.actual} pages, ${vm.device.inflatedPages} pages discarded by the host`);
  vm.device.setTarget(0);
  vm.run(200);
  lines.push(`deflate to 0: actual = ${vm.device.actual} pages`);
  vm.device.requestStats();
  vm.run(1);
  lines.push(`guest memory verified: ${vm.kernel.verify().length} wrong pages; wall time ${(performance.now() - started).toFixed(0)} ms`);
  return lines;
}
