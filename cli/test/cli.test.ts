import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/report/files.js';
import { runCli } from './support/in-process.js';

const root = join(import.meta.dirname, '../..');
const cli = join(root, 'cli/src/cli.ts');

/** Run the command line as a user would (from source), with a time limit. */
function freehint(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=freehint-source', '--import', 'tsx', cli, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const small = ['--guest', '256M', '--workloads', 'idle', '--warmup', '100'];
const temp = (): string => mkdtempSync(join(tmpdir(), 'freehint-'));

interface Envelope<R = { strategy: string; verified: boolean; reductionVsZero: number; wallMs?: number }> {
  format: string;
  formatVersion: number;
  tool: { name: string; version: string };
  command: string;
  seed: number;
  scenarios: Array<{ guestBytes: number; workload: string; seed: number }>;
  results: R[];
  timing?: { runs: Array<{ label: string; wallMs: number }> };
}

describe('the freehint command line', () => {
  // In this process: help runs nothing, so it needs no process of its own.
  it('--help lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['compare', 'run', 'sweep', 'postcopy', 'demo']) expect(r.stdout).toContain(command);
    const compare = await runCli(['compare', '--help']);
    for (const option of ['--guest', '--workloads', '--free-policies', '--strategies', '--bandwidth', '--downtime', '--seed', '--json', '--out', '--timing', '--no-progress']) expect(compare.stdout).toContain(option);
  });

  it('a bad argument exits the process with code 2 and one line', () => {
    const r = freehint('--strategies', 'zero,zero');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("freehint: strategies 'zero,zero': 'zero' is given twice\n");
    expect(r.stdout).toBe('');
  });

  it('--json prints only JSON: a versioned envelope of the results it writes, each verified, progress on stderr', () => {
    const out = temp();
    const r = freehint(...small, '--strategies', 'zero,zero+hint', '--json', '--out', out);
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as Envelope;
    expect(printed).toMatchObject({ format: 'freehint-results', formatVersion: 1, tool: { name: 'freehint' }, command: 'compare', seed: 1 });
    expect(printed.tool.version).toBe((JSON.parse(readFileSync(join(root, 'cli/package.json'), 'utf8')) as { version: string }).version);
    expect(printed.scenarios).toEqual([expect.objectContaining({ guestBytes: 256 * 2 ** 20, workload: 'idle', seed: 1 })]);
    expect(printed.results.map((x) => x.strategy)).toEqual(['zero', 'zero+hint']);
    expect(printed.results.every((x) => x.verified && x.wallMs === undefined)).toBe(true);
    expect(printed.results[1]!.reductionVsZero).toBeLessThan(0);
    expect(printed.timing).toBeUndefined();
    expect(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'))).toEqual(printed);
    expect(readFileSync(join(out, 'compare.svg'), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // Not a terminal: a line per finished run, counted in the order runs finish (on worker threads, either may be first).
    const lines = r.stderr.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^freehint compare: \[[12]\/2\] idle 256 MiB zero(\+hint)? \(\d+\.\d s\)$/);
    expect(lines.map((l) => /\[(\d)\/2\]/.exec(l)?.[1])).toEqual(['1', '2']);
    expect(lines.map((l) => /MiB (\S+) \(/.exec(l)?.[1]).sort()).toEqual(['zero', 'zero+hint']);
  });

  it('sweep shows a progress bar and writes CSV, JSON, SVG and HTML', () => {
    const out = temp();
    const r = freehint('sweep', '--sizes', '128M,256M', '--workloads', 'idle', '--warmup', '100', '--strategies', 'zero,zero+hint', '--progress', '--out', out);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/4\/4 runs/);
    const csv = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^guestBytes,workload,freePolicy,seed,strategy,/);
    expect(csv).toHaveLength(5);
    const json = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as Envelope;
    expect(json.command).toBe('sweep');
    expect(json.scenarios.map((s) => s.guestBytes)).toEqual([128 * 2 ** 20, 256 * 2 ** 20]);
    expect(json.results).toHaveLength(4);
    expect(readFileSync(join(out, 'sweep.svg'), 'utf8')).toContain('guest RAM (GiB, log scale)');
    const html = readFileSync(join(out, 'sweep.html'), 'utf8');
    expect(html).toContain('<table>');
    expect(html).toContain('<svg');
    // Self-contained: nothing to fetch.
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
  });

  it('run <scenario.json> runs the file’s strategies', () => {
    const dir = temp();
    const file = join(dir, 'busy.json');
    writeFileSync(file, JSON.stringify({ guest: '256M', workload: 'hog', workloadParams: { workingSetBytes: '32M', dirtyBytesPerSec: '64M' }, strategies: ['zero', 'zero+hint'], warmupMs: 50 }));
    const r = freehint('run', file, '--out', dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('| hog');
    expect(r.stdout).toContain('Every destination verified');
    expect(existsSync(join(dir, 'busy-results.svg'))).toBe(true);
    expect(existsSync(join(dir, 'busy-results.html'))).toBe(true);
    const json = JSON.parse(readFileSync(join(dir, 'busy-results.json'), 'utf8')) as Envelope;
    expect(json.command).toBe('run');
    expect(json.results.map((x) => x.strategy)).toEqual(['zero', 'zero+hint']);
  });
});

describe('freehint postcopy', () => {
  it('compares precopy and postcopy variants on a busy guest, each verified, with a line per variant', () => {
    const out = temp();
    const r = freehint('postcopy', '--guest', '256M', '--working-set', '32M', '--dirty-rate', '256M', '--huge-page', '64K', '--json', '--out', out);
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout) as Envelope<{ variant: string; verified: boolean; faults: number; downtimeMs: number }> & { options: unknown };
    expect(json.command).toBe('postcopy');
    expect(json.options).toEqual({ precopyRounds: 2, hugePageBytes: 65536 });
    const results = json.results;
    expect(results.map((x) => x.variant)).toHaveLength(4);
    expect(results.every((x) => x.verified)).toBe(true);
    // Postcopy resumes the guest at once and pays in faults instead.
    expect(results[2]!.downtimeMs).toBeLessThan(results[0]!.downtimeMs);
    expect(results[2]!.faults).toBeGreaterThan(0);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .map((l) => l.replace(/ \(\d+\.\d s\)$/, '')),
    ).toEqual(results.map((x, i) => `freehint postcopy: [${i + 1}/4] ${x.variant}`));
    expect(readdirSync(out).sort()).toEqual(['postcopy.html', 'postcopy.json', 'postcopy.svg']);
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole, and leaves nothing behind when it cannot', () => {
    const dir = temp();
    writeFileAtomic(join(dir, 'a.txt'), 'one');
    writeFileAtomic(join(dir, 'a.txt'), 'two');
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('two');
    mkdirSync(join(dir, 'taken'));
    expect(() => writeFileAtomic(join(dir, 'taken'), 'x')).toThrow(/cannot write '.*taken': /);
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'taken']);
  });
});
