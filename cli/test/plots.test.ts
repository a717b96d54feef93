import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { describe, expect, it } from 'vitest';
import type { PostcopyVariantResult } from 'freehint';
import { comparisonChart, postcopyChart, renderSvg, sweepChart } from '../src/report/plots.js';
import type { RunResult } from '../src/runs.js';

// The PNGs land here for a person to look at (git ignores the folder).
const shots = join(import.meta.dirname, '.plots');

function result(workload: string, guestGiB: number, freePolicy: string, strategy: string, simulatedMs: number, zeroMs: number): RunResult {
  return {
    strategy,
    workload,
    guestBytes: guestGiB * 2 ** 30,
    freePolicy,
    seed: 1,
    status: 'completed',
    verified: true,
    simulatedMs,
    downtimeMs: 100,
    downtimeLimitMet: true,
    syncs: 2,
    bytes: 1,
    rounds: 2,
    pagesSent: 1,
    zeroPages: 0,
    hintedPages: 0,
    skippedZeroPages: 0,
    reductionVsZero: simulatedMs / zeroMs - 1,
  };
}

const STRATEGIES = ['none', 'zero', 'zero+zero-skip', 'zero+hint', 'zero+hint+zero-skip', 'zero+report'];

/** Rasterise as a browser would, with the system's fonts; width and height in pixels. */
function png(svg: string, name: string): { width: number; height: number } {
  const image = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render();
  mkdirSync(shots, { recursive: true });
  writeFileSync(join(shots, `${name}.png`), image.asPng());
  return { width: image.width, height: image.height };
}

/** The legend's symbols: each one's shape (its path) and colour. */
function legendSymbols(svg: string): Array<{ shape: string; fill: string }> {
  return [...svg.matchAll(/<g class="mark-symbol role-legend-symbol"[^>]*><path [^>]*d="([^"]+)"[^>]*fill="([^"]+)"/g)].map((m) => ({ shape: m[1]!, fill: m[2]! }));
}

describe('plots', () => {
  it('comparison panels wrap: six scenarios stay within a page width', async () => {
    const scenarios = ['idle', 'compile', 'hog'].flatMap((w) => ['none', 'poison'].map((p) => [w, p] as const));
    const results = scenarios.flatMap(([w, p], i) => STRATEGIES.map((s, j) => result(w, 8, p, s, 300 + 200 * i + 150 * j, 400 + 200 * i)));
    const svg = await renderSvg(comparisonChart(results));
    const size = png(svg, 'compare-6');
    expect(size.width).toBeLessThan(1000);
    expect(size.height).toBeGreaterThan(3 * 150);
    expect(svg).toContain('simulated migration time (s)');
  });

  it('the sweep gives every series its own colour and its own shape, and axes their units', async () => {
    const sizes = [1, 2, 4, 8, 16];
    const results = ['idle', 'compile', 'hog'].flatMap((w) =>
      ['none', 'poison'].flatMap((p) => sizes.flatMap((g, k) => ['zero', 'zero+zero-skip', 'zero+hint'].map((s, j) => result(w, g, p, s, 1000 * g - j * 120 * g - (p === 'poison' ? 50 : 0) * k, 1000 * g)))),
    );
    const svg = await renderSvg(sweepChart(results));
    const size = png(svg, 'sweep');
    expect(size.width).toBeLessThan(1100);
    const symbols = legendSymbols(svg);
    // Two strategies against zero, under two free-time policies: four series.
    expect(symbols).toHaveLength(4);
    expect(new Set(symbols.map((s) => s.fill)).size).toBe(4);
    expect(new Set(symbols.map((s) => s.shape)).size).toBe(4);
    // Whole labels, not cut to 'zero+hint, free: n…'.
    expect(svg).toContain('>zero+hint, free: poison<');
    expect(svg).toContain('guest RAM (GiB, log scale)');
    expect(svg).toContain('change in migration time (%)');
  });

  it('postcopy: time and downtime side by side, each variant named in full', async () => {
    const variant = (name: string, totalMs: number, downtimeMs: number): PostcopyVariantResult => ({
      variant: name,
      status: 'completed',
      verified: true,
      totalMs,
      downtimeMs,
      precopyBytes: 1,
      precopyChannelBytes: 0,
      postcopyChannelBytes: 0,
      faults: 0,
      faultP50Ms: 0,
      faultP99Ms: 0,
      faultMaxMs: 0,
      resolvedLocally: 0,
    });
    const names = ['precopy (zero)', 'postcopy, no preemption', 'postcopy + preemption', 'postcopy + preemption + hints (local zero)'];
    const svg = await renderSvg(postcopyChart([variant(names[0]!, 44466, 1357), variant(names[1]!, 6786, 2), variant(names[2]!, 6786, 2), variant(names[3]!, 5460, 2)]));
    const size = png(svg, 'postcopy');
    expect(size.width).toBeLessThan(1000);
    for (const name of names) expect(svg).toContain(`>${name}<`);
    expect(svg).toContain('>1357 ms<');
  });
});
