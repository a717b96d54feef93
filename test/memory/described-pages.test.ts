import { describe, expect, it } from 'vitest';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { DelegatingMemory, MovableMemory, type MemoryAccess } from '../../src/memory/delegating-memory.js';
import { describePage, holdsPatternPage, patternRuns, writePatternRuns, zeroRunLength } from '../../src/memory/described-pages.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE, type GuestMemory, type PatternRun } from '../../src/memory/guest-memory.js';
import { SparseMemory } from '../../src/memory/sparse-memory.js';

const SEED = 42;
const RAM = 64 * PAGE_SIZE;

class Watching extends DelegatingMemory {
  readonly seen: Array<[number, number, MemoryAccess]> = [];
  protected override touch(gpa: number, length: number, access: MemoryAccess): void {
    this.seen.push([gpa / PAGE_SIZE, length / PAGE_SIZE, access]);
  }
}

describe('described pages', () => {
  it('a memory has the capability only when it stores pages by description, and a delegating one forwards it', () => {
    expect(new CompactMemory({ regions: RAM, patternSeed: SEED }).describer).toBeDefined();
    const plain: GuestMemory[] = [new FlatMemory(RAM), new SparseMemory(RAM)];
    for (const m of plain) expect(m.describer).toBeUndefined();
    const moving = new MovableMemory(new CompactMemory({ regions: RAM, patternSeed: SEED }));
    expect(moving.describer?.patternSeed).toBe(SEED);
    moving.moveTo(new SparseMemory(RAM));
    expect(moving.describer).toBeUndefined();
  });

  it('pattern pages written by description or by bytes read the same, on every kind of memory', () => {
    const runs: PatternRun[] = [
      { count: 3, version: 1 },
      { count: 1, version: 7 },
      { count: 2, version: 2 },
    ];
    const memories: GuestMemory[] = [
      new CompactMemory({ regions: RAM, patternSeed: SEED }),
      new CompactMemory({ regions: RAM, patternSeed: SEED + 1 }),
      new SparseMemory(RAM),
      new Watching(new CompactMemory({ regions: RAM, patternSeed: SEED })),
    ];
    for (const m of memories) writePatternRuns(m, SEED, 10, runs);
    const bytes = memories.map((m) => m.read(10 * PAGE_SIZE, 6 * PAGE_SIZE));
    for (const b of bytes.slice(1)) expect(b).toEqual(bytes[0]);
    for (const m of memories) {
      expect(holdsPatternPage(m, SEED, 13, 7)).toBe(true);
      expect(holdsPatternPage(m, SEED, 13, 1)).toBe(false);
      expect(describePage(m, 20)).toEqual({ fill: 0 });
      expect(zeroRunLength(m, 16, 10)).toBe(10);
    }
    // Only the memory that stores this guest's pages by description knows them as runs.
    const found = memories.map((m) => {
      const out: PatternRun[] = [];
      return patternRuns(m, SEED, 10, 6, out) === 0 ? undefined : out;
    });
    expect(found).toEqual([runs, undefined, undefined, runs]);
    expect(describePage(memories[0]!, 13)).toEqual({ seed: SEED, version: 7 });
    expect(describePage(memories[2]!, 13)).toBeUndefined();
  });

  it('a delegating memory sees every access by description before it happens', () => {
    const compact = new CompactMemory({ regions: RAM, patternSeed: SEED });
    const watching = new Watching(compact);
    writePatternRuns(watching, SEED, 4, [
      { count: 2, version: 1 },
      { count: 1, version: 2 },
    ]);
    describePage(watching, 5);
    patternRuns(watching, SEED, 4, 3, []);
    zeroRunLength(watching, 8, 4);
    expect(watching.seen.slice(0, 4)).toEqual([
      [4, 3, 'write'],
      [5, 1, 'read'],
      [4, 3, 'read'],
      [8, 4, 'read'],
    ]);
  });
});
