import { describe, expect, it } from 'vitest';
import { checkScenario, parseSize, PUBLISHED_SETUP, ScenarioError } from '../../src/sim/scenario.js';

describe('scenarios', () => {
  it('parse sizes in binary units', () => {
    expect(parseSize('512M', 'x')).toBe(512 * 2 ** 20);
    expect(parseSize('8G', 'x')).toBe(8 * 2 ** 30);
    expect(parseSize('1T', 'x')).toBe(2 ** 40);
    expect(parseSize('1.5G', 'x')).toBe(1.5 * 2 ** 30);
    expect(parseSize('64MiB', 'x')).toBe(64 * 2 ** 20);
    expect(parseSize('4096', 'x')).toBe(4096);
  });

  it('fill in the published setup for what is missing', () => {
    expect(checkScenario({})).toEqual(PUBLISHED_SETUP);
    const s = checkScenario({ guest: '2G', workload: 'compile', workloadParams: { jobs: 8, jobBytes: '64M' }, freePolicy: 'poison', strategies: 'zero, zero+hint', seed: 7 });
    expect(s).toMatchObject({ guestBytes: 2 * 2 ** 30, workload: 'compile', workloadParams: { jobs: 8, jobBytes: 64 * 2 ** 20 }, freePolicy: 'poison', strategies: ['zero', 'zero+hint'], seed: 7 });
  });

  it.each([
    [{ guest: '8X' }, "guest size '8X': expected a size like 512M, 8G, 1T"],
    [{ guest: '6M' }, "guest size '6M': expected a multiple of 4M from 64M to 1T"],
    [{ guest: '2T' }, "guest size '2T': expected a multiple of 4M from 64M to 1T"],
    [{ workload: 'browse' }, "workload 'browse': expected one of idle, compile, hog, sanitize"],
    [{ freePolicy: 'scrub' }, "free-time policy 'scrub': expected one of none, zero, poison"],
    [{ strategies: 'zero,hint+warp' }, "strategy 'hint+warp': unknown strategy 'warp'"],
    [{ strategies: 'none+zero' }, "strategy 'none+zero': 'none' sends every page whole"],
    [{ strategies: [] }, 'strategies: expected a list'],
    [{ workload: 'idle', workloadParams: { jobs: 4 } }, "workload parameter 'jobs': idle takes residentBytes"],
    [{ workloadParams: { residentBytes: -1 } }, "workload parameter 'residentBytes' '-1': expected a number"],
    [{ bandwidth: 'fast' }, "bandwidth 'fast': expected a size like"],
    [{ downtimeLimitMs: 0 }, "downtime limit '0': expected a number from 1"],
    [{ seed: 1.5 }, "seed '1.5': expected a whole number"],
    [{ overlayMode: 'keep' }, "overlay mode 'keep': expected one of drop-at-pause, ship-originals"],
    [{ initOnAlloc: 'yes' }, "init_on_alloc 'yes': expected one of true, false"],
    [{ guets: '8G' }, "scenario key 'guets': expected one of"],
    [[1, 2], 'scenario: expected an object'],
  ])('reject %j with one clear line', (input, message) => {
    expect(() => checkScenario(input)).toThrow(ScenarioError);
    expect(() => checkScenario(input)).toThrow(message);
  });
});
