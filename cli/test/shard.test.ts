import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseShard, shardOf } from '../src/input/shard.js';
import { runCli } from './support/in-process.js';

describe('a grid in parts', () => {
  it('every scenario lands in exactly one part, in order, the parts within one of each other in size', () => {
    for (let scenarios = 1; scenarios <= 17; scenarios++) {
      const grid = Array.from({ length: scenarios }, (_, i) => i);
      for (let count = 1; count <= scenarios; count++) {
        const parts = Array.from({ length: count }, (_, i) => shardOf(grid, parseShard(`${i + 1}/${count}`, scenarios)));
        expect(parts.flat(), `${scenarios} in ${count}`).toEqual(grid);
        const sizes = parts.map((p) => p.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        expect(Math.min(...sizes)).toBeGreaterThan(0);
      }
    }
  });

  it('refuses a part that is not i/n with 1 ≤ i ≤ n, or one that would be empty', () => {
    for (const text of ['0/2', '3/2', '1/0', '1', 'a/b', '1/2/3', '-1/2', '1.5/2']) expect(() => parseShard(text, 8), text).toThrow(/expected i\/n/);
    expect(() => parseShard('1/9', 8)).toThrow(/at most 8 parts/);
  });
});

// Three scenarios in two parts (two and one), each run apart, then merged.
const GRID = ['sweep', '--sizes', '256M,512M,768M', '--workloads', 'idle', '--strategies', 'zero,zero+hint', '--warmup', '100', '--jobs', '1', '--no-progress'];

describe('freehint merge', () => {
  it('gives, from the parts in any order, the bytes one run of the whole grid writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'freehint-shard-'));
    expect((await runCli([...GRID, '--out', join(dir, 'all')])).code).toBe(0);
    expect((await runCli([...GRID, '--shard', '1/2', '--out', join(dir, 'p1')])).code).toBe(0);
    expect((await runCli([...GRID, '--shard', '2/2', '--out', join(dir, 'p2')])).code).toBe(0);
    const p1 = join(dir, 'p1', 'sweep-part-1-of-2.json');
    const p2 = join(dir, 'p2', 'sweep-part-2-of-2.json');
    expect((JSON.parse(readFileSync(p1, 'utf8')) as { shard: unknown }).shard).toEqual({ index: 1, count: 2, scenarios: 3 });
    const merged = await runCli(['merge', p2, p1, '--out', join(dir, 'merged')]);
    expect(merged.stderr).toBe('');
    expect(merged.code).toBe(0);
    for (const file of ['sweep.json', 'sweep.csv', 'sweep.svg', 'sweep.html']) {
      expect(readFileSync(join(dir, 'merged', file), 'utf8'), file).toBe(readFileSync(join(dir, 'all', file), 'utf8'));
    }

    // A part missing or given twice, a part of another grid, a file that is not a part: one line, exit 2.
    const other = join(dir, 'other.json');
    writeFileSync(other, readFileSync(p2, 'utf8').replace('"seed": 1', '"seed": 2'));
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, readFileSync(p2, 'utf8').replace('"strategy": "zero+hint"', '"strategy": "zero"'));
    for (const [files, message] of [
      [[p1], /1 of 2 parts given/],
      [[p1, p1], /part 1\/2 is given twice/],
      [[p2, p2], /part 1\/2 is missing/],
      [[p1, other], /not of the same grid/],
      [[p1, tampered], /result 2 is not zero\+hint on its scenario/],
      [[join(dir, 'all', 'sweep.json'), p2], /not a part/],
    ] as const) {
      const r = await runCli(['merge', ...files, '--out', join(dir, 'bad')]);
      expect(r.code, String(message)).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});
