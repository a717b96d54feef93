import { describe, expect, it } from 'vitest';
import { GuestKernel } from '../../src/guest/kernel.js';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { SparseMemory } from '../../src/memory/sparse-memory.js';

const RAM = 32 << 20;
const memories: Array<[string, () => GuestMemory]> = [
  ['flat', () => new FlatMemory(RAM)],
  ['sparse', () => new SparseMemory(RAM)],
  ['compact', () => new CompactMemory({ regions: RAM, patternSeed: 7 })],
];

describe.each(memories)('GuestKernel on %s memory', (_name, makeMemory) => {
  it('verifies clean after writes, and names exactly the pages corrupted behind its back', () => {
    const kernel = new GuestKernel({ memory: makeMemory(), seed: 7, reserved: [[0, 16]] });
    const owned: number[] = [];
    for (let i = 0; i < 64; i++) {
      const pfn = kernel.allocPages(0)!;
      kernel.writePage(pfn);
      owned.push(pfn);
    }
    kernel.writePage(owned[3]!);
    expect(kernel.verify()).toEqual([]);

    // One flipped byte in a page in use, one zeroed reserved page.
    kernel.memory.writeU8(owned[10]! * 4096 + 123, kernel.memory.readU8(owned[10]! * 4096 + 123) ^ 1);
    kernel.memory.fill(5 * 4096, 4096, 0);
    expect(kernel.verify().sort((a, b) => a - b)).toEqual([5, owned[10]!].sort((a, b) => a - b));
  });

  it('stops checking a page once it is freed', () => {
    const kernel = new GuestKernel({ memory: makeMemory(), seed: 7, freePolicy: 'poison' });
    const pfn = kernel.allocPages(0)!;
    kernel.writePage(pfn);
    kernel.freePages(pfn, 0);
    expect(kernel.memory.readU32(pfn * 4096)).toBe(0xaaaaaaaa);
    expect(kernel.verify()).toEqual([]);
  });

  it('runs shrinkers, then OOM notifiers, before failing an allocation', () => {
    const kernel = new GuestKernel({ memory: makeMemory(), seed: 1, maxOrder: 3 });
    const taken: number[] = [];
    for (let pfn = kernel.allocPages(0); pfn !== undefined; pfn = kernel.pages.alloc(0)) taken.push(pfn);
    const calls: string[] = [];
    kernel.registerShrinker(() => {
      calls.push('shrink');
      return 0;
    });
    kernel.registerOomNotifier(() => {
      calls.push('oom');
      kernel.freePages(taken.pop()!, 0);
      return 1;
    });
    expect(kernel.allocPages(0)).toBeDefined();
    expect(calls).toEqual(['shrink', 'oom']);
  });
});
