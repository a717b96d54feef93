import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// Every simulation entry point the command line uses, spied on: bad input must reach none.
vi.mock('freehint', async (importOriginal) => {
  const real = await importOriginal<typeof import('freehint')>();
  return { ...real, runStrategy: vi.fn(real.runStrategy), comparePostcopy: vi.fn(real.comparePostcopy), runBalloonDemo: vi.fn(real.runBalloonDemo) };
});
const freehint = await import('freehint');
const { runCli: cli } = await import('./support/in-process.js');

const dir = mkdtempSync(join(tmpdir(), 'freehint-bad-'));
const out = join(dir, 'out');
const file = (name: string, content: string): string => {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
};

// The inputs a new user tried, each with what the one line must say.
const cases: ReadonlyArray<readonly [string, () => string[], RegExp]> = [
  ['an empty workload list', () => ['--workloads', ',', '--out', out], /^freehint: workloads ',': expected at least one/],
  ['empty sizes', () => ['sweep', '--sizes', '', '--out', out], /^freehint: guest sizes '': expected at least one/],
  ['an empty item in a list', () => ['--workloads', 'idle,,compile', '--out', out], /an empty item/],
  ['a duplicate strategy', () => ['--strategies', 'zero,zero', '--out', out], /'zero' is given twice/],
  ['one strategy spelt two ways', () => ['--strategies', 'zero+hint,hint+zero', '--out', out], /'hint\+zero' is given twice \(as 'zero\+hint' too\)/],
  ['a duplicate size', () => ['sweep', '--sizes', '1G,1024M', '--out', out], /'1024M' is given twice/],
  ['a duplicate workload', () => ['--workloads', 'idle,idle', '--out', out], /'idle' is given twice/],
  ['an empty free-policy list', () => ['--free-policies', '', '--out', out], /free-time policies '': expected at least one/],
  ['a bad guest size', () => ['--guest', '8X', '--out', out], /^freehint: guest size '8X': expected a size like 512M/],
  ['a guest too small', () => ['--guest', '1M', '--out', out], /guest size '1M'/],
  ['an unknown strategy', () => ['--strategies', 'zero+warp', '--out', out], /strategy 'zero\+warp': unknown strategy 'warp'/],
  ['an unknown workload', () => ['--workloads', 'idel', '--out', out], /workload 'idel'/],
  ['a seed that is not a number', () => ['demo', '--seed', 'abc'], /^freehint: seed 'abc': expected a whole number/],
  ['a fractional seed', () => ['--seed', '1.5', '--out', out], /seed '1.5'/],
  ['a negative seed', () => ['sweep', '--seed', '-1', '--out', out], /seed '-1'/],
  ['a seed past 32 bits', () => ['postcopy', '--seed', '4294967296', '--out', out], /seed '4294967296'/],
  ['a huge page below 4K', () => ['postcopy', '--huge-page', '1K', '--out', out], /^freehint: huge page size '1K': expected a power of two from 4K to 1G/],
  ['a huge page that is not a power of two', () => ['postcopy', '--huge-page', '3M', '--out', out], /huge page size '3M'/],
  ['a huge page larger than the guest', () => ['postcopy', '--guest', '256M', '--working-set', '32M', '--huge-page', '1G', '--out', out], /larger than the guest/],
  ['zero precopy rounds', () => ['postcopy', '--rounds', '0', '--out', out], /precopy rounds '0'/],
  ['a bad bandwidth', () => ['--bandwidth', 'fast', '--out', out], /bandwidth 'fast'/],
  ['a bad downtime', () => ['--downtime', '-5', '--out', out], /downtime limit '-5'/],
  ['an unknown host', () => ['--host', 'mainframe', '--out', out], /host 'mainframe'/],
  ['an output directory that is a file', () => ['--out', file('a-file', '')], /^freehint: output directory '.*a-file': not a directory$/],
  ['an output directory under a file', () => ['--out', join(dir, 'a-file', 'sub')], /output directory '.*sub': cannot write there \(a parent is not a directory\)$/],
  ['an output directory nothing can be written to', () => ['--out', '/proc/freehint-out'], /output directory '\/proc\/freehint-out': cannot write there/],
  ['a missing scenario file', () => ['run', join(dir, 'missing.json'), '--out', out], /scenario file '.*missing.json': no such file or directory$/],
  ['a scenario file that is not JSON', () => ['run', file('broken.json', '{"guest": '), '--out', out], /scenario file '.*broken.json': not valid JSON/],
  ['a scenario file that is a list', () => ['run', file('list.json', '[]'), '--out', out], /expected a JSON object/],
  ['an unknown scenario key', () => ['run', file('typo.json', '{"gest": "1G"}'), '--out', out], /unknown key 'gest' \(did you mean guest\?\)/],
  ['guest and guestBytes together', () => ['run', file('both.json', '{"guest": "1G", "guestBytes": 1073741824}'), '--out', out], /guest and guestBytes: give the guest's size once/],
  ['a fraction out of range', () => ['run', file('fraction.json', '{"workload": "idle", "workloadParams": {"zeroedFraction": 7}}'), '--out', out], /'zeroedFraction' '7': expected a number from 0 to 1/],
  ['an unknown workload parameter', () => ['run', file('param.json', '{"workload": "idle", "workloadParams": {"jobs": 4}}'), '--out', out], /workload parameter 'jobs'/],
  ['a strategy twice in a file', () => ['run', file('twice.json', '{"strategies": ["zero", "zero"]}'), '--out', out], /strategy 'zero' is given twice/],
  ['a bad seed override of a file', () => ['run', file('ok.json', '{"guest": "256M"}'), '--seed', 'x', '--out', out], /seed 'x'/],
  ['no vCPUs', () => ['--vcpus', '0', '--out', out], /vCPUs '0'/],
  ['no worker threads', () => ['--jobs', '0', '--out', out], /^freehint: --jobs '0': expected a whole number from 1 to 256/],
  ['a part past the last', () => ['sweep', '--shard', '3/2', '--out', out], /^freehint: --shard '3\/2': expected i\/n/],
  ['more parts than scenarios', () => ['--workloads', 'idle', '--shard', '1/2', '--out', out], /the grid has 1 scenario\(s\), so at most 1 parts/],
  ['a warm-up that is not a number', () => ['sweep', '--warmup', 'soon', '--out', out], /warm-up 'soon'/],
  ['a working set larger than the guest', () => ['postcopy', '--guest', '256M', '--working-set', '1G', '--out', out], /workingSetBytes/],
  ['a dirty rate past the documented maximum', () => ['postcopy', '--dirty-rate', '64G', '--out', out], /dirtyBytesPerSec' '64G': at most 4G a second/],
  ['a seed in a scenario file that is not a number', () => ['run', file('seed.json', '{"seed": "abc"}'), '--out', out], /seed 'abc'/],
  ['init_on_alloc that is neither true nor false', () => ['run', file('ioa.json', '{"initOnAlloc": "maybe"}'), '--out', out], /init_on_alloc 'maybe'/],
  ['an unknown free-time policy in a file', () => ['run', file('policy.json', '{"freePolicy": "shred"}'), '--out', out], /free-time policy 'shred'/],
  ['no strategies in a file', () => ['run', file('none.json', '{"strategies": []}'), '--out', out], /strategies: expected a list/],
  ['a scenario file that is a directory', () => ['run', dir, '--out', out], /scenario file '.*': is a directory$/],
  ['no scenario file at all', () => ['run'], /missing required argument 'scenario'/],
  ['a mistyped command', () => ['comapre'], /^freehint: unknown command 'comapre' \(did you mean compare\?\)/],
  ['another mistyped command', () => ['swep', '--sizes', '1G'], /unknown command 'swep' \(did you mean sweep\?\)/],
  ['an unknown option', () => ['--gust', '1G'], /^freehint: unknown option '--gust' \(did you mean --guest\?\)$/],
  ['an option without its value', () => ['--guest'], /option '--guest <size>' argument missing/],
  ['an argument compare does not take', () => ['compare', 'extra'], /too many arguments/],
];

describe('bad input: one line on stderr, exit code 2, no simulation, nothing written', () => {
  beforeAll(() => mkdirSync(dir, { recursive: true }));
  afterEach(() => vi.clearAllMocks());

  it.each(cases)('%s', async (_name, args, message) => {
    const r = await cli(args());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(freehint.runStrategy).not.toHaveBeenCalled();
    expect(freehint.comparePostcopy).not.toHaveBeenCalled();
    expect(freehint.runBalloonDemo).not.toHaveBeenCalled();
    expect(existsSync(out)).toBe(false);
  });

  it('a BOM at the start of a scenario file is tolerated', async () => {
    const bom = file('bom.json', '\uFEFF{"guest": "256M", "workload": "idle", "warmupMs": 50, "strategies": ["zero"]}');
    const r = await cli(['run', bom, '--json', '--no-progress', '--out', join(dir, 'bom-out')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(freehint.runStrategy).toHaveBeenCalledTimes(1);
    expect(readdirSync(join(dir, 'bom-out')).sort()).toEqual(['bom-results.html', 'bom-results.json', 'bom-results.svg']);
  });

  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const { version } = (await import('../package.json', { with: { type: 'json' } })).default;
    expect(r.stdout.trim()).toBe(version);
  });
});
