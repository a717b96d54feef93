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

  it('take bandwidth as a size per second or unlimited, a host profile and vCPUs', () => {
    expect(checkScenario({ bandwidth: '128M', host: 'tcg-2core', vcpus: 4 })).toMatchObject({ bandwidth: 128 * 2 ** 20, host: 'tcg-2core', vcpus: 4 });
    expect(checkScenario({ bandwidth: 'unlimited' }).bandwidth).toBe('unlimited');
    expect(checkScenario({ workload: 'written-then-freed', workloadParams: { writtenBytes: '256M' } }).workloadParams).toEqual({ writtenBytes: 256 * 2 ** 20 });
  });

  it.each([
    [{ guest: '8X' }, "guest size '8X': expected a size like 512M, 8G, 1T"],
    [{ guest: '6M' }, "guest size '6M': expected a multiple of 4M from 64M to 1T"],
    [{ guest: '2T' }, "guest size '2T': expected a multiple of 4M from 64M to 1T"],
    [{ workload: 'browse' }, "workload 'browse': expected one of idle, compile, hog, sanitize, written-then-freed"],
    [{ guest: '2G', guestBytes: 2 ** 31 }, "guest and guestBytes: give the guest's size once"],
    [{ workload: 'compile', workloadParams: { jobs: 1e15 } }, "workload parameter 'jobs' '1000000000000000': expected a whole number from 1 to 256"],
    [{ workload: 'compile', workloadParams: { jobs: 1e8 } }, "workload parameter 'jobs' '100000000': expected a whole number from 1 to 256"],
    [{ workload: 'compile', workloadParams: { zeroedFraction: 7 } }, "workload parameter 'zeroedFraction' '7': expected a number from 0 to 1"],
    [
      { guest: '1T', workload: 'hog', workloadParams: { workingSetBytes: '900G', dirtyBytesPerSec: '1G' } },
      "workload parameter 'workingSetBytes' '900G': at most 64G (the guest's RAM, and 64G of written memory at most)",
    ],
    [{ guest: '2G', workload: 'hog', workloadParams: { workingSetBytes: '3G' } }, "workload parameter 'workingSetBytes' '3G': at most 2G"],
    [{ guest: '2G', workload: 'compile', workloadParams: { jobs: 16, jobBytes: '256M' } }, 'workload parameters: compile would hold'],
    [{ workload: 'hog', workloadParams: { dirtyBytesPerSec: '8G' } }, "workload parameter 'dirtyBytesPerSec' '8G': at most 4G a second"],
    [{ workload: 'compile', workloadParams: { jobMs: 0 } }, "workload parameter 'jobMs' '0': expected a number from 1 to 3600000"],
    [{ host: 'vax' }, "host 'vax': expected one of kvm-xeon-2018, tcg-2core"],
    [{ vcpus: 0 }, "vCPUs '0': expected a whole number from 1 to 1024"],
    [{ bandwidth: 'unlimitd' }, "bandwidth 'unlimitd': expected a size like"],
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
