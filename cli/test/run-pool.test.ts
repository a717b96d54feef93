import { checkScenario, runStrategy, type StrategyResult } from 'freehint';
import { describe, expect, it } from 'vitest';
import { runOnWorkers } from '../src/run-pool.js';
import { jobsOf } from '../src/runs.js';

/** A result without the simulator's own wall time, the one field a run on another thread may change. */
const modelled = ({ wallMs: _wall, ...rest }: StrategyResult): Omit<StrategyResult, 'wallMs'> => rest;

describe('the run pool', () => {
  it('gives, on worker threads, byte for byte the results of a serial run, in its order', async () => {
    // The larger guests go first and finish first: results in finishing order would not match.
    const scenarios = [
      checkScenario({ guest: '256M', workload: 'idle', strategies: ['zero', 'zero+hint'], warmupMs: 100, seed: 3 }),
      checkScenario({ guest: '768M', workload: 'written-then-freed', workloadParams: { writtenBytes: '32M' }, strategies: ['none', 'zero+hint+zero-skip'], warmupMs: 100, seed: 4 }),
    ];
    const jobs = jobsOf(scenarios);
    const serial = jobs.map(({ scenario, strategy }) => runStrategy(scenario, strategy));
    const finished: string[] = [];
    const parallel = await runOnWorkers(jobs, 2, (done, index) => finished.push(`${done} ${jobs[index]!.strategy}`));
    expect(JSON.stringify(parallel.map(modelled))).toBe(JSON.stringify(serial.map(modelled)));
    // Each run was heard of once, counted 1 … n.
    expect(finished.map((f) => Number(f.split(' ')[0]))).toEqual([1, 2, 3, 4]);
    expect(finished.map((f) => f.split(' ')[1]).sort()).toEqual(['none', 'zero', 'zero+hint', 'zero+hint+zero-skip']);
  }, 30_000);
});
