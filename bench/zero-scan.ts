import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { allocateScannable, isZeroRange } from '../src/memory/zero-scan.js';
import { atLeast, type Benchmark, type Figure } from './harness.js';

const PAGE = 4096;
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** GB/s of the C baseline (memcmp against a zero page), per case; undefined without a compiler. */
function cBaseline(bytes: number): Map<string, number> | undefined {
  // From source (bench/) or from the bundle (bench/.build/): the C file sits in bench/.
  const source = here(import.meta.url.endsWith('.ts') ? './zero-scan.c' : '../zero-scan.c');
  const binary = here(import.meta.url.endsWith('.ts') ? './.build/zero-scan' : './zero-scan');
  mkdirSync(here(import.meta.url.endsWith('.ts') ? './.build' : '.'), { recursive: true });
  const cc = spawnSync('cc', ['-O3', '-march=native', '-o', binary, source], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return undefined;
  const out = execFileSync(binary, [String(bytes)], { encoding: 'utf8' });
  return new Map(
    out
      .trim()
      .split('\n')
      .map((line) => [line.split(' ')[0]!, Number(line.split(' ')[1])]),
  );
}

/** Best of five passes over every page of `bytes`, GB/s. */
function scanRate(bytes: number, isZero: (offset: number) => boolean): number {
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < 5; rep++) {
    const start = performance.now();
    let found = 0;
    for (let p = 0; p < bytes; p += PAGE) if (isZero(p)) found++;
    best = Math.min(best, performance.now() - start);
    if (found < 0) throw new Error('unreachable');
  }
  return bytes / best / 1e6;
}

/**
 * P1: zero-page detection over a 1 GiB buffer, all-zero pages and pages non-zero only in their
 * last byte (the worst case: every byte must be read), as a ratio to C's memcmp in this run.
 */
export const zeroScan: Benchmark = {
  name: 'zero-scan',
  figures({ quick }) {
    const bytes = quick ? 64 << 20 : 1 << 30;
    const c = cBaseline(bytes);
    const wasm = allocateScannable(bytes);
    const plain = new Uint8Array(bytes);
    const figures: Figure[] = [];
    for (const kase of ['zero', 'last-byte']) {
      // Touch every page so that no kernel reads the host's shared zero page.
      for (const b of [wasm?.bytes, plain]) {
        if (b === undefined) continue;
        b.fill(1);
        b.fill(0);
        if (kase === 'last-byte') for (let p = PAGE - 1; p < bytes; p += PAGE) b[p] = 1;
      }
      const base = c?.get(kase);
      const versus = (rate: number): string => (base ? `${(rate / base).toFixed(2)}× C (${base.toFixed(1)} GB/s)` : 'no C compiler: no baseline');
      if (wasm) {
        const rate = scanRate(bytes, (p) => wasm.isZero(p, PAGE));
        figures.push({ name: `zero-page detection, ${kase} pages, WebAssembly SIMD kernel`, value: rate, unit: 'GB/s', note: versus(rate), ...(base ? { goal: atLeast('P1', rate / base, 0.8, '× C') } : {}) });
      }
      const rate = scanRate(bytes, (p) => isZeroRange(plain, p, PAGE));
      figures.push({ name: `zero-page detection, ${kase} pages, probe + native compare`, value: rate, unit: 'GB/s', note: versus(rate) });
    }
    if (!c) figures.push({ name: 'C baseline', value: 0, unit: '', note: 'skipped: no C compiler (cc) on this machine' });
    return figures;
  },
};
