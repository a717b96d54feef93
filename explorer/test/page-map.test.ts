import { describe, expect, it } from 'vitest';
import { PageMap, PageState } from '../src/linux/page-map.js';

// The v86 page's dirty bitmap: a sync marks what changed, hints clear, held blocks stay held.
const PAGE = 4096;
const RAM = 64 * PAGE;
/** Pages 8 to 15 are a hole, as the VGA/BIOS window is in a PC. */
const isRam = (gpa: number): boolean => gpa < 8 * PAGE || gpa >= 16 * PAGE;

function fixture(): { map: PageMap; ram: Uint8Array } {
  const ram = new Uint8Array(RAM);
  for (let i = 0; i < RAM; i++) ram[i] = (i * 7) & 0xff;
  return { map: new PageMap(RAM, isRam), ram };
}

/** Change one byte of guest RAM. */
const flip = (ram: Uint8Array, at: number, mask: number): void => {
  ram[at] = (ram[at] ?? 0) ^ mask;
};

const states = (map: PageMap, from: number, to: number): number[] => [...map.states.slice(from, to)];

describe('the v86 page’s page map', () => {
  it('the first sync marks all of RAM dirty, and never the hole', async () => {
    const { map, ram } = fixture();
    expect(await map.sync(() => ram, 5)).toBe(56);
    expect(map.count(PageState.Dirty)).toBe(56);
    expect(states(map, 8, 16)).toEqual(Array(8).fill(PageState.Hole));
  });

  it('hints clear whole pages only; a later sync marks exactly the pages whose bytes changed', async () => {
    const { map, ram } = fixture();
    await map.sync(() => ram);
    // Pages 32 to 39, plus part of 40 (not whole: stays dirty), and a range across the hole.
    expect(map.hint([{ gpa: 32 * PAGE, length: 8 * PAGE + 100 }])).toBe(8);
    expect(map.hint([{ gpa: 6 * PAGE, length: 4 * PAGE }])).toBe(2);
    expect(states(map, 31, 42)).toEqual([2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2]);
    expect(states(map, 6, 10)).toEqual([3, 3, 0, 0]);

    flip(ram, 33 * PAGE + 4095, 1); // a hinted page written since its hint
    flip(ram, 50 * PAGE, 0xff); // an ordinary page
    expect(await map.sync(() => ram, 7)).toBe(2);
    expect(map.states[33]).toBe(PageState.Dirty);
    expect(map.states[50]).toBe(PageState.Dirty);
    expect(map.states[34]).toBe(PageState.Held);
    expect(map.states[40]).toBe(PageState.Clean);
    expect(map.count(PageState.Held)).toBe(7 + 2);

    map.released();
    expect(map.count(PageState.Held) + map.count(PageState.Hinted)).toBe(0);
    expect(map.count(PageState.Clean)).toBe(54);
  });

  it('follows the RAM buffer it is given at each slice (v86 replaces it when memory grows)', async () => {
    const { map, ram } = fixture();
    await map.sync(() => ram);
    const moved = ram.slice();
    flip(moved, 3 * PAGE, 1);
    expect(await map.sync(() => moved, 4)).toBe(1);
    expect(map.states[3]).toBe(PageState.Dirty);
  });
});
