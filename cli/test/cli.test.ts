import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/report/files.js';

const root = join(import.meta.dirname, '../..');
const cli = join(root, 'cli/src/cli.ts');

/** Run the command line as a user would (from source), with a time limit. */
function freehint(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=freehint-source', '--import', 'tsx', cli, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const small = ['--guest', '256M', '--workloads', 'idle', '--warmup', '100'];

describe('the freehint command line', () => {
  it('--help lists every command', () => {
    const r = freehint('--help');
    expect(r.status).toBe(0);
    for (const command of ['compare', 'run', 'sweep', 'demo']) expect(r.stdout).toContain(command);
    const compare = freehint('compare', '--help');
    for (const option of ['--guest', '--workloads', '--free-policies', '--strategies', '--bandwidth', '--downtime', '--seed', '--json', '--out']) expect(compare.stdout).toContain(option);
  });

  it('bad arguments: one clear line on stderr, exit code 2, nothing written', () => {
    const out = mkdtempSync(join(tmpdir(), 'freehint-'));
    const cases: Array<[string[], string]> = [
      [['--guest', '8X', '--out', out], "freehint: guest size '8X': expected a size like 512M, 8G, 1T"],
      [['--strategies', 'zero+warp', '--out', out], "freehint: strategy 'zero+warp': unknown strategy 'warp'"],
      [['--no-such-option'], "unknown option '--no-such-option'"],
      [['run', join(out, 'missing.json'), '--out', out], 'freehint: scenario file'],
    ];
    for (const [args, message] of cases) {
      const r = freehint(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('npm warn')),
      ).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    expect(readdirSync(out)).toEqual([]);
  });

  it('--json prints only JSON, the same results it writes, each verified', () => {
    const out = mkdtempSync(join(tmpdir(), 'freehint-'));
    const r = freehint(...small, '--strategies', 'zero,zero+hint', '--json', '--out', out);
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as Array<{ strategy: string; verified: boolean; reductionVsZero: number }>;
    expect(printed.map((x) => x.strategy)).toEqual(['zero', 'zero+hint']);
    expect(printed.every((x) => x.verified)).toBe(true);
    expect(printed[1]!.reductionVsZero).toBeLessThan(0);
    expect(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'))).toEqual(printed);
    expect(readFileSync(join(out, 'compare.svg'), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  it('--seed makes a run reproducible', () => {
    const run = (seed: string): unknown =>
      JSON.parse(freehint(...small, '--strategies', 'zero+hint', '--json', '--seed', seed, '--out', mkdtempSync(join(tmpdir(), 'freehint-'))).stdout, (k, v: unknown) => (k === 'wallMs' ? undefined : v));
    expect(run('5')).toEqual(run('5'));
    expect(run('5')).not.toEqual(run('6'));
  });

  it('sweep shows a progress bar and writes CSV, JSON and SVG', () => {
    const out = mkdtempSync(join(tmpdir(), 'freehint-'));
    const r = freehint('sweep', '--sizes', '128M,256M', '--workloads', 'idle', '--warmup', '100', '--strategies', 'zero,zero+hint', '--progress', '--out', out);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/4\/4 runs/);
    const csv = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^guestBytes,workload,freePolicy,seed,strategy,/);
    expect(csv).toHaveLength(5);
    expect(JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'))).toHaveLength(4);
    expect(readFileSync(join(out, 'sweep.svg'), 'utf8')).toContain('guest RAM (GiB)');
  });

  it('run <scenario.json> runs the file’s strategies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'freehint-'));
    const file = join(dir, 'busy.json');
    writeFileSync(file, JSON.stringify({ guest: '256M', workload: 'hog', workloadParams: { workingSetBytes: '32M', dirtyBytesPerSec: '64M' }, strategies: ['zero', 'zero+hint'], warmupMs: 50 }));
    const r = freehint('run', file, '--out', dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('| hog');
    expect(r.stdout).toContain('Every destination verified');
    expect(existsSync(join(dir, 'busy-results.svg'))).toBe(true);
    const results = JSON.parse(readFileSync(join(dir, 'busy-results.json'), 'utf8')) as Array<{ workload: string }>;
    expect(results.map((x) => x.workload)).toEqual(['hog', 'hog']);
  });
});

describe('freehint postcopy', () => {
  it('compares precopy and postcopy variants on a busy guest, each verified', () => {
    const out = mkdtempSync(join(tmpdir(), 'freehint-'));
    const r = freehint('postcopy', '--guest', '256M', '--working-set', '32M', '--dirty-rate', '256M', '--huge-page', '64K', '--json', '--out', out);
    expect(r.status).toBe(0);
    const results = JSON.parse(r.stdout) as Array<{ variant: string; verified: boolean; faults: number; downtimeMs: number }>;
    expect(results.map((x) => x.variant)).toHaveLength(4);
    expect(results.every((x) => x.verified)).toBe(true);
    // Postcopy resumes the guest at once and pays in faults instead.
    expect(results[2]!.downtimeMs).toBeLessThan(results[0]!.downtimeMs);
    expect(results[2]!.faults).toBeGreaterThan(0);
    expect(freehint('postcopy', '--rounds', '0').status).toBe(2);
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole, and leaves nothing behind when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'freehint-'));
    writeFileAtomic(join(dir, 'a.txt'), 'one');
    writeFileAtomic(join(dir, 'a.txt'), 'two');
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('two');
    mkdirSync(join(dir, 'taken'));
    expect(() => writeFileAtomic(join(dir, 'taken'), 'x')).toThrow();
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'taken']);
  });
});
