/**
 * The reference tables the model is checked against, as `ReferenceTable`s: the published
 * figures (published-v34.json, published-v37.json) as they are, and the QEMU 7.2 measurements
 * (qemu-7.2-tcg.json) turned into one row per setup, hint off against hint on.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ReferenceRow, ReferenceTable } from '../src/sim/calibration.js';
import { kernelReserved } from '../src/sim/vm.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const MiB = 2 ** 20;

export function publishedTable(file: 'published-v34.json' | 'published-v37.json'): ReferenceTable {
  return JSON.parse(readFileSync(here(file), 'utf8')) as ReferenceTable;
}

/** The parts of qemu-7.2-tcg.json read here. */
interface QemuReport {
  readonly guest: { readonly memoryMiB: number; readonly vcpus: number };
  readonly rows: ReadonlyArray<{
    readonly id: string;
    readonly freedMiB: number;
    readonly maxBandwidth: string;
    readonly initOnAlloc: number;
    readonly freePageHint: boolean;
    readonly median: Readonly<Record<string, number>>;
    readonly reps: ReadonlyArray<{ readonly metrics: Readonly<Record<string, number>> }>;
  }>;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The 90% interval of the change between two medians, from their repetitions: a bootstrap
 * (resample each side with replacement, 2000 times, from a fixed seed so the interval is the
 * same every time) of median(on) / median(off) - 1.
 */
export function changeInterval(off: readonly number[], on: readonly number[]): [number, number] {
  let state = 0x2545f491;
  const next = (n: number): number => {
    // xorshift32: a fixed, reproducible stream.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const resample = (xs: readonly number[]): number[] => xs.map(() => xs[next(xs.length)]!);
  const changes: number[] = [];
  for (let i = 0; i < 2000; i++) changes.push(median(resample(on)) / median(resample(off)) - 1);
  changes.sort((a, b) => a - b);
  return [changes[Math.floor(0.05 * changes.length)]!, changes[Math.floor(0.95 * changes.length)]!];
}

/** QEMU's max-bandwidth as a scenario's bandwidth: 2^64 - 1 is no limit. */
function bandwidth(maxBandwidth: string): string | number {
  return BigInt(maxBandwidth) >= 2n ** 53n ? 'unlimited' : Number(maxBandwidth);
}

/**
 * The QEMU measurements, one row per (D, bandwidth, init_on_alloc). The simulated guest is the
 * measured one: 2 GiB, one vCPU, QEMU's default 300 ms downtime limit, no background writes
 * (QEMU measured a dirty page rate of 0), and as many pages with data as QEMU found with hints
 * off before anything was written and freed (ram.normal of the D = 0 rows): what the model's
 * kernel does not account for is resident memory; D MiB are then written and freed.
 */
export function qemuTable(): ReferenceTable {
  const report = JSON.parse(readFileSync(here('qemu-7.2-tcg.json'), 'utf8')) as QemuReport;
  const ramBytes = report.guest.memoryMiB * MiB;
  const censusPages = Math.min(...report.rows.filter((r) => r.freedMiB === 0 && !r.freePageHint).map((r) => r.median['ram.normal']!));
  const kernelPages = kernelReserved(ramBytes).reduce((n, [, count]) => n + count, 0);
  const residentBytes = Math.round(((censusPages - kernelPages) * 4096) / MiB) * MiB;
  const rows: ReferenceRow[] = [];
  for (const off of report.rows.filter((r) => !r.freePageHint)) {
    const on = report.rows.find((r) => r.freePageHint && r.freedMiB === off.freedMiB && r.maxBandwidth === off.maxBandwidth && r.initOnAlloc === off.initOnAlloc)!;
    const bw = bandwidth(off.maxBandwidth);
    rows.push({
      label: `freed ${off.freedMiB} MiB, ${bw === 'unlimited' ? 'unlimited' : `${Number(bw) / MiB} MiB/s`}, init_on_alloc=${off.initOnAlloc}`,
      scenario: {
        guest: `${report.guest.memoryMiB}M`,
        vcpus: report.guest.vcpus,
        workload: 'written-then-freed',
        workloadParams: { writtenBytes: off.freedMiB * MiB, residentBytes, bootChurnBytes: 0, dirtyBytesPerSec: 0, zeroedFraction: 0 },
        initOnAlloc: off.initOnAlloc === 1,
        bandwidth: bw,
        downtimeLimitMs: 300,
        warmupMs: 5000,
      },
      legacyMs: off.median['total-time']!,
      hintMs: on.median['total-time']!,
      changeInterval: changeInterval(
        off.reps.map((r) => r.metrics['total-time']!),
        on.reps.map((r) => r.metrics['total-time']!),
      ),
    });
  }
  return {
    name: 'QEMU 7.2 (TCG)',
    source: 'calibration/qemu-7.2-tcg.json: real QEMU 7.2 migrations of a 2 GiB busybox guest on a 2-core host without KVM, medians of the repetitions (npm run calibrate:qemu; calibration/README.md)',
    host: 'tcg-2core',
    tolerancePoints: 15,
    rows,
  };
}
