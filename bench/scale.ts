import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { atMost, type Benchmark, type Figure } from './harness.js';

const GiB = 2 ** 30;

/** What a migration must do however fast it is done: see {@link unitsOfWork}. */
interface Work {
  readonly dataPages: number;
  readonly records: number;
  readonly hintBlocks: number;
  readonly reportedBlocks: number;
}

interface BootFigures {
  readonly bootMs: number;
  readonly hintMs: number;
  readonly heldPages: number;
  readonly maxRssBytes: number;
}

interface MigrateFigures {
  readonly migrateMs: number;
  readonly simulatedMs: number;
  readonly work: Work;
  readonly maxRssBytes: number;
}

/**
 * The inherent work of a migration: pages in use read (pages that held data), records written
 * to the stream (a run of zero or pattern pages is one record), hint blocks received and blocks
 * reported. Untouched memory adds records only where a run of it begins, so a simulator whose
 * cost per unit of work stays flat from 8 GiB to 1 TiB costs nothing per untouched page.
 */
function unitsOfWork(w: Work): number {
  return w.dataPages + w.records + w.hintBlocks + w.reportedBlocks;
}

function describeWork(w: Work): string {
  return `${w.dataPages} data pages, ${w.records} records, ${w.hintBlocks} hint blocks, ${w.reportedBlocks} reported blocks`;
}

/** Run bench/scale-child in a fresh process, so its peak RSS and compiled code are its own. */
function child<T>(ramBytes: number, strategy?: string, quiet = false): T {
  // From source (tsx) or from the bundle bench/build.ts makes.
  const path = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './scale-child.ts' : './scale-child.js', import.meta.url));
  const out = execFileSync(process.execPath, [...process.execArgv, path, String(ramBytes), ...(strategy ? [strategy] : []), ...(quiet ? ['quiet'] : [])], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop() ?? '') as T;
}

/** P2: wall time per unit of work at 1 TiB against 8 GiB, the same strategy, each in its own process. */
function perWorkRatio(strategy: string, quiet: boolean): Figure {
  const small = child<MigrateFigures>(8 * GiB, strategy, quiet);
  const large = child<MigrateFigures>(1024 * GiB, strategy, quiet);
  const perUnit = (f: MigrateFigures): number => (f.migrateMs * 1000) / unitsOfWork(f.work);
  const ratio = perUnit(large) / perUnit(small);
  return {
    name: `migrate ${quiet ? 'quiet' : 'idle'} 1 TiB vs 8 GiB guest, ${strategy}: wall per unit of work, ratio`,
    value: ratio,
    unit: '×',
    goal: atMost('P2', ratio, 1.3, '×'),
    note:
      `${perUnit(large).toFixed(2)} vs ${perUnit(small).toFixed(2)} µs per unit; ` +
      `1 TiB: ${(large.migrateMs / 1000).toFixed(2)} s wall, ${(large.simulatedMs / 1000).toFixed(0)} s simulated, ${describeWork(large.work)}, peak RSS ${(large.maxRssBytes / 2 ** 20).toFixed(0)} MiB; ` +
      `8 GiB: ${(small.migrateMs / 1000).toFixed(2)} s wall, ${(small.simulatedMs / 1000).toFixed(1)} s simulated, ${describeWork(small.work)}`,
  };
}

export const scale: Benchmark = {
  name: 'scale',
  figures({ quick }) {
    const sizes = quick ? [8 * GiB] : [8 * GiB, 1024 * GiB];
    const figures: Figure[] = [];
    for (const size of sizes) {
      const r = child<BootFigures>(size);
      const label = `idle ${size / GiB} GiB guest`;
      figures.push(
        { name: `${label}: boot (allocator, kernel pages, balloon probe, workload)`, value: r.bootMs, unit: 'ms' },
        { name: `${label}: first hint round over all free memory`, value: r.hintMs, unit: 'ms', note: `${(r.heldPages / 256).toFixed(0)} MiB hinted` },
        { name: `${label}: peak RSS`, value: r.maxRssBytes / 2 ** 20, unit: 'MiB', ...(size >= 1024 * GiB ? { goal: atMost('memory', r.maxRssBytes / 2 ** 20, 4096, ' MiB') } : {}) },
      );
    }
    if (quick) {
      child<MigrateFigures>(8 * GiB, 'zero+hint');
      return figures;
    }
    for (const strategy of ['none', 'zero', 'zero+zero-skip', 'zero+hint', 'zero+report']) figures.push(perWorkRatio(strategy, false));
    // Without the idle guest's background writes (1 MiB/s): what is left grows with the
    // guest's memory map and bitmaps, not with the writes a longer migration lets it make.
    for (const strategy of ['zero', 'zero+hint']) figures.push(perWorkRatio(strategy, true));
    return figures;
  },
};
