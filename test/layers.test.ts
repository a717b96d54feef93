import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { sources } from './support/sources.js';

/**
 * The core's layers, lowest first. A module imports from its own layer or from a lower rank;
 * two layers of one rank are siblings and never import each other. What each may use:
 * - memory: guest RAM, its contract, dirty log and bitmaps, and the compact page encoding;
 * - virtio: the device core (chains, queues, the device, saved state), over memory;
 * - virtio/transport and virtio/balloon: the register files and the balloon device, over the core;
 * - guest (the simulated Linux side, which speaks to a device only through registers and rings,
 *   so it takes spec constants and layouts from virtio, never a device) and migration (which
 *   knows only memory: hints reach it through its HintSource interface, never the device class);
 * - sim (the small VMM that wires guest, device and migration) and vmm (adapters for host VMMs);
 * - testing: the fuzzing kit, over everything below;
 * - the public entry points, src/index.ts and src/testing/index.ts.
 * The command line (cli/src) imports the core by its package name only.
 */
const LAYERS: readonly (readonly [layer: string, rank: number])[] = [
  ['memory', 0],
  ['virtio', 1],
  ['virtio/transport', 2],
  ['virtio/balloon', 2],
  ['guest', 3],
  ['migration', 3],
  ['sim', 4],
  ['vmm', 4],
  ['testing', 5],
  ['entry', 6],
];
const rank = new Map(LAYERS);

/** The layer of a core module (a path under src/). */
function layerOf(path: string): string {
  if (path === 'src/index.ts' || path === 'src/testing/index.ts') return 'entry';
  const [, top, sub] = path.split('/');
  if (top === 'virtio' && (sub === 'transport' || sub === 'balloon')) return `virtio/${sub}`;
  if (top === undefined || !rank.has(top)) throw new Error(`${path} is in no layer`);
  return top;
}

/** Relative imports of each source file (static, re-exports, dynamic), resolved to paths. */
const graph = new Map(
  [...sources].map(([path, text]) => {
    const imports = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    const local = imports.filter((name) => name.startsWith('.')).map((name) => normalize(join(dirname(path), name)).replace(/\.js$/, '.ts'));
    return [path, { local, all: imports }] as const;
  }),
);

describe('import layers', () => {
  it('every import resolves to a source file (the graph is complete)', () => {
    const dangling = [...graph].flatMap(([path, { local }]) => local.filter((to) => !sources.has(to)).map((to) => `${path} -> ${to}`));
    expect(dangling).toEqual([]);
    expect(graph.get('src/sim/vm.ts')?.local).toContain('src/guest/kernel.ts');
  });

  it('no core module imports from a higher layer or a sibling', () => {
    const wrong: string[] = [];
    for (const [path, { local }] of graph) {
      if (!path.startsWith('src/')) continue;
      const from = layerOf(path);
      for (const to of local) {
        const target = layerOf(to);
        if (target !== from && (rank.get(target) ?? 0) >= (rank.get(from) ?? 0)) wrong.push(`${path} (${from}) -> ${to} (${target})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the guest never imports a device, and neither does migration', () => {
    // The guest's drivers take register offsets and spec constants from virtio, as a real
    // driver's headers do; the device objects reach them only through registers and rings.
    const device = /\b(VirtioDevice|BalloonDevice|MmioTransport|PciTransport)\b/;
    const wrong = [...sources].flatMap(([path, text]) =>
      /^src\/(guest|migration)\//.test(path) ? [...text.matchAll(/^(import|export)\b[^;]*?from '[^']*';/gms)].filter(([clause]) => device.test(clause)).map(([clause]) => `${path}: ${clause}`) : [],
    );
    expect(wrong).toEqual([]);
    expect(sources.get('src/guest/mmio-driver.ts')).toMatch(/import \{[^}]*MmioReg[^}]*\} from '\.\.\/virtio\/transport\/mmio\.js'/);
  });

  it('the core imports no Node.js module, and the command line imports the core by name', () => {
    const node = [...graph].flatMap(([path, { all }]) => (path.startsWith('src/') ? all.filter((name) => name.startsWith('node:')).map((name) => `${path}: ${name}`) : []));
    expect(node).toEqual([]);
    const deep = [...graph].flatMap(([path, { local }]) => (path.startsWith('cli/') ? local.filter((to) => !to.startsWith('cli/')).map((to) => `${path} -> ${to}`) : []));
    expect(deep).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(cycles()).toEqual([]);
  });
});

/** Every strongly connected group of more than one module (Tarjan), or a module importing itself. */
function cycles(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.local ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        onStack.delete(w);
        group.push(w);
      }
      if (group.length > 1 || graph.get(v)?.local.includes(v)) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}
