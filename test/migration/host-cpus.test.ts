import { describe, expect, it } from 'vitest';
import { DEFAULT_COST_MODEL, SimClock } from '../../src/migration/cost-model.js';
import { HostCpus } from '../../src/migration/host-cpus.js';

describe('the host’s cores', () => {
  it('are a whole number from 1', () => {
    expect(new HostCpus(1).cores).toBe(1);
    for (const cores of [0, -2, 1.5, Number.NaN]) expect(() => new HostCpus(cores), String(cores)).toThrow(/host cores: expected a whole number from 1/);
  });

  it('give each running thread a whole core until they are oversubscribed, then a fair share', () => {
    const host = new HostCpus(2);
    expect(host.share).toBe(1);
    host.migrationThreads = 1;
    host.busyVcpus = 1;
    // As many threads as cores: each still has one.
    expect(host.share).toBe(1);
    host.busyVcpus = 2;
    expect(host.share).toBeCloseTo(2 / 3, 12);
    host.migrationThreads = 2;
    expect(host.share).toBe(0.5);
  });
});

describe('the simulated clock at a share of a core', () => {
  it('takes longer to read and to send in proportion', () => {
    const clock = new SimClock(DEFAULT_COST_MODEL, () => 0);
    const fullRead = clock.scanMs(4096);
    const fullSend = clock.sendMs(4096);
    clock.speed = 0.5;
    expect(clock.scanMs(4096)).toBeCloseTo(2 * fullRead, 12);
    expect(clock.sendMs(4096)).toBeCloseTo(2 * fullSend, 12);
  });
});
