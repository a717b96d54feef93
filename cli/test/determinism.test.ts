import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/in-process.js';

const FILES = ['compare.json', 'compare.svg', 'compare.html'];

async function run(seed: string, ...extra: string[]): Promise<{ json: string; files: string[] }> {
  const out = mkdtempSync(join(tmpdir(), 'freehint-seed-'));
  const r = await runCli(['--guest', '256M', '--workloads', 'idle', '--warmup', '100', '--strategies', 'zero,zero+hint', '--json', '--no-progress', '--seed', seed, '--out', out, ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return { json: r.stdout, files: FILES.map((f) => readFileSync(join(out, f), 'utf8')) };
}

describe('outputs depend on the inputs only', () => {
  it('the same seed gives the same bytes in every file; another seed does not', async () => {
    const first = await run('5');
    const again = await run('5');
    expect(again.json).toBe(first.json);
    expect(again.files).toEqual(first.files);
    expect(first.files[0]).toBe(first.json);
    expect((await run('6')).json).not.toBe(first.json);
  });

  it('--timing adds the wall time of each run beside the results, which stay the same', async () => {
    const plain = JSON.parse((await run('5')).json) as Record<string, unknown>;
    const timed = JSON.parse((await run('5', '--timing')).json) as Record<string, unknown> & { timing: { runs: unknown[] } };
    expect(plain['timing']).toBeUndefined();
    expect(timed.timing.runs).toEqual([
      { label: 'idle 256 MiB zero', wallMs: expect.any(Number) },
      { label: 'idle 256 MiB zero+hint', wallMs: expect.any(Number) },
    ]);
    const { timing: _timing, ...rest } = timed;
    expect(rest).toEqual(plain);
  });
});
