/** Scenarios as plain data (JSON files, command-line options): checked, with defaults filled in. */
import type { FreePolicy } from '../guest/buddy.js';
import { COMPILE_DEFAULTS, FREED_DEFAULTS, HOG_DEFAULTS, IDLE_DEFAULTS, compile, hog, idle, sanitize, writtenThenFreed, type Workload } from '../guest/workloads.js';
import type { CostModel } from '../migration/cost-model.js';
import type { OverlayMode } from '../migration/overlay.js';
import { StrategyError, strategySet } from '../migration/strategies.js';
import { HOST_NAMES, HOST_PROFILES, type HostName, type HostProfile } from './host-profile.js';
import { MAX_VCPUS } from './vm.js';

/** A bad scenario value, said in one line that names the value and what was expected. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

/** The workloads a scenario may name. */
export const WORKLOADS = ['idle', 'compile', 'hog', 'sanitize', 'written-then-freed'] as const;
/** A workload a scenario may name. */
export type WorkloadName = (typeof WORKLOADS)[number];
/** What the guest does to a page when it frees it: nothing, zero it, or poison it. */
export const FREE_POLICIES: readonly FreePolicy[] = ['none', 'zero', 'poison'];
const OVERLAY_MODES: readonly OverlayMode[] = ['drop-at-pause', 'ship-originals'];

/** One migration setup; each strategy in `strategies` runs on its own copy of the same guest. */
export interface Scenario {
  readonly guestBytes: number;
  readonly workload: WorkloadName;
  /** Overrides of the workload's parameters (see workloads.ts), in bytes, ms and bytes/s. */
  readonly workloadParams: Readonly<Record<string, number>>;
  /** What the guest kernel does to freed pages: nothing, zero them (init_on_free), or poison them. */
  readonly freePolicy: FreePolicy;
  /** Strategy combinations such as `zero+hint`, each checked by strategySet. */
  readonly strategies: readonly string[];
  readonly overlayMode: OverlayMode;
  /** QEMU's max-bandwidth, bytes per second, or no limit (the host's channel is then what bounds it). */
  readonly bandwidth: number | 'unlimited';
  /** The host the migration runs on (see host-profile.ts). */
  readonly host: HostName;
  /** vCPUs of the guest. */
  readonly vcpus: number;
  readonly downtimeLimitMs: number;
  /** Simulated time the guest runs after boot before the migration starts. */
  readonly warmupMs: number;
  /** Whether the guest zeroes pages on allocation (init_on_alloc, on in Debian since 2020). */
  readonly initOnAlloc: boolean;
  readonly seed: number;
}

/** The strategies the comparison runs by default: from no detection at all to hints and reporting. */
export const DEFAULT_STRATEGIES = ['none', 'zero', 'zero+zero-skip', 'zero+hint', 'zero+hint+zero-skip', 'zero+report'] as const;

const GiB = 2 ** 30;

/**
 * The published setup of the free page hint results (v34): an 8 GiB guest on the Xeon host of
 * those runs, downtime limit 2 s, no bandwidth cap ("100G"), a 2018 kernel without init_on_alloc.
 */
export const PUBLISHED_SETUP: Scenario = {
  guestBytes: 8 * GiB,
  workload: 'idle',
  workloadParams: {},
  freePolicy: 'none',
  strategies: DEFAULT_STRATEGIES,
  overlayMode: 'drop-at-pause',
  bandwidth: 'unlimited',
  host: 'kvm-xeon-2018',
  vcpus: 1,
  downtimeLimitMs: 2000,
  warmupMs: 3000,
  initOnAlloc: false,
  seed: 1,
};

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parse a size such as 512M, 8G, 1T or 1.5G (binary units; a plain number is bytes). */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const value = match ? Math.round(Number(match[1]) * UNITS[match[2]!.toUpperCase()]!) : Number.NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw new ScenarioError(`${what} '${text}': expected a size like 512M, 8G, 1T`);
  return value;
}

/** A size that the guest can have: whole 4 MiB blocks, up to 1 TiB. */
function guestSize(value: unknown): number {
  const bytes = typeof value === 'number' ? value : typeof value === 'string' ? parseSize(value, 'guest size') : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 64 * 2 ** 20 || bytes > 2 ** 40 || bytes % (4 * 2 ** 20) !== 0) {
    throw new ScenarioError(`guest size '${String(value)}': expected a multiple of 4M from 64M to 1T, like 512M, 8G, 1T`);
  }
  return bytes;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) throw new ScenarioError(`${what} '${String(value)}': expected one of ${allowed.join(', ')}`);
  return value as T;
}

/** A number from `min` to `max` (a numeric string will do); `shown` is how the message quotes it. */
function number(value: unknown, what: string, min: number, max: number, shown = String(value)): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) throw new ScenarioError(`${what} '${shown}': expected a number from ${min} to ${max}`);
  return n;
}

function integer(value: unknown, what: string, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ScenarioError(`${what} '${String(value)}': expected a whole number from ${min} to ${max}`);
  return n;
}

/** What a workload parameter is, and so how it is checked. */
type ParamKind = 'bytes' | 'bytesPerSec' | 'count' | 'ms' | 'fraction';

/**
 * The simulator keeps a version number for every page a workload writes: the memory a
 * scenario's workload holds (resident pages, jobs, caches, a working set, data written) may be
 * at most this much, whatever the guest's size. 64 GiB is 16 M pages, a few hundred MiB of host
 * memory; a bigger footprint is refused rather than run out of memory.
 */
export const MAX_WORKLOAD_BYTES = 64 * 2 ** 30;
/**
 * The fastest a workload may write, bytes per second: the simulator writes page by page, so
 * its wall time grows with this rate times the migration's length; 4 GiB/s (a million pages a
 * second) is faster than any link the model has, and a guest that writes faster than its link
 * already never converges.
 */
export const MAX_DIRTY_BYTES_PER_SEC = 4 * 2 ** 30;
/** make -j256 is the most a simulated build runs. */
export const MAX_JOBS = 256;

const PARAM_KINDS: Readonly<Record<string, ParamKind>> = {
  residentBytes: 'bytes',
  bootChurnBytes: 'bytes',
  dirtyBytesPerSec: 'bytesPerSec',
  zeroedFraction: 'fraction',
  writtenBytes: 'bytes',
  jobs: 'count',
  jobBytes: 'bytes',
  jobMs: 'ms',
  jobWriteBytesPerSec: 'bytesPerSec',
  cacheBytesPerJob: 'bytes',
  maxCacheBytes: 'bytes',
  warmCacheBytes: 'bytes',
  workingSetBytes: 'bytes',
};

/** The parameters each workload takes, with their defaults (for checking overrides). */
const WORKLOAD_DEFAULTS: Record<WorkloadName, Readonly<Record<string, number>>> = {
  idle: { ...IDLE_DEFAULTS },
  compile: { ...COMPILE_DEFAULTS },
  hog: { ...HOG_DEFAULTS },
  sanitize: { ...COMPILE_DEFAULTS },
  'written-then-freed': { ...FREED_DEFAULTS },
};

/** One parameter, checked for its kind against the guest's size and the documented maxima. */
function workloadParam(key: string, value: unknown, guestBytes: number): number {
  const what = `workload parameter '${key}'`;
  const sized = typeof value === 'string' && /[KMGT]/i.test(value) ? parseSize(value, what) : value;
  const shown = String(value);
  switch (PARAM_KINDS[key]) {
    case 'fraction':
      return number(sized, what, 0, 1, shown);
    case 'count':
      return integer(sized, what, 1, MAX_JOBS);
    case 'ms':
      return number(sized, what, 1, 3_600_000, shown);
    case 'bytesPerSec':
      if (typeof sized === 'number' && sized > MAX_DIRTY_BYTES_PER_SEC) throw new ScenarioError(`${what} '${shown}': at most ${formatSize(MAX_DIRTY_BYTES_PER_SEC)} a second`);
      return number(sized, what, 0, MAX_DIRTY_BYTES_PER_SEC, shown);
    default: {
      const max = Math.min(guestBytes, MAX_WORKLOAD_BYTES);
      const n = number(sized, what, 0, Number.MAX_SAFE_INTEGER, shown);
      if (n > max) throw new ScenarioError(`${what} '${String(value)}': at most ${formatSize(max)} (the guest's RAM, and ${formatSize(MAX_WORKLOAD_BYTES)} of written memory at most)`);
      return n;
    }
  }
}

/** The memory the workload would hold at once with these parameters, bytes. */
function footprint(workload: WorkloadName, p: Readonly<Record<string, number>>): number {
  const idleBytes = p['residentBytes']! + p['bootChurnBytes']!;
  switch (workload) {
    case 'idle':
      return idleBytes;
    case 'written-then-freed':
      return idleBytes + p['writtenBytes']!;
    case 'hog':
      return p['workingSetBytes']!;
    case 'compile':
    case 'sanitize':
      return idleBytes + p['jobs']! * p['jobBytes']! + Math.max(p['warmCacheBytes']!, p['maxCacheBytes']!);
  }
}

function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['T', 2 ** 40],
    ['G', 2 ** 30],
    ['M', 2 ** 20],
    ['K', 2 ** 10],
  ] as const)
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return `${bytes} bytes`;
}

function workloadParams(workload: WorkloadName, value: unknown, guestBytes: number): Record<string, number> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ScenarioError('workload parameters: expected an object of numbers');
  const defaults = WORKLOAD_DEFAULTS[workload];
  const known = Object.keys(defaults);
  const params: Record<string, number> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!known.includes(key)) throw new ScenarioError(`workload parameter '${key}': ${workload} takes ${known.join(', ')}`);
    params[key] = workloadParam(key, v, guestBytes);
  }
  // The defaults of a small guest shrink with it (see workloads.ts); only what is given can overflow it.
  const held = footprint(workload, { ...defaults, ...params });
  const givenHeld = footprint(workload, { ...Object.fromEntries(known.map((k) => [k, 0])), ...params });
  if (givenHeld > Math.min(guestBytes, MAX_WORKLOAD_BYTES)) {
    throw new ScenarioError(
      `workload parameters: ${workload} would hold ${formatSize(held)} at once, more than ${guestBytes < MAX_WORKLOAD_BYTES ? `the guest's ${formatSize(guestBytes)} of RAM` : `the ${formatSize(MAX_WORKLOAD_BYTES)} of written memory the simulator keeps`}`,
    );
  }
  return params;
}

function strategies(value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(list) || list.length === 0) throw new ScenarioError('strategies: expected a list such as zero,zero+hint');
  return list.map((s) => {
    const name = String(s).trim();
    try {
      strategySet(name);
    } catch (error) {
      if (!(error instanceof StrategyError)) throw error;
      throw new ScenarioError(`strategy '${name}': ${error.message}`, { cause: error });
    }
    return name;
  });
}

/**
 * Check a scenario given as plain data (a JSON file, command-line options), filling in the
 * published setup for what is missing. Throws a ScenarioError naming the first bad value.
 */
export function checkScenario(input: unknown, base: Scenario = PUBLISHED_SETUP): Scenario {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ScenarioError('scenario: expected an object');
  const known = [...Object.keys(base), 'guest'];
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw new ScenarioError(`scenario key '${key}': expected one of ${known.join(', ')}`);
  const workload = raw['workload'] === undefined ? base.workload : oneOf(raw['workload'], WORKLOADS, 'workload');
  if (raw['guest'] !== undefined && raw['guestBytes'] !== undefined) throw new ScenarioError("guest and guestBytes: give the guest's size once");
  const size = raw['guest'] ?? raw['guestBytes'];
  const guestBytes = size === undefined ? base.guestBytes : guestSize(size);
  const bandwidth = raw['bandwidth'];
  return {
    guestBytes,
    workload,
    workloadParams: raw['workloadParams'] === undefined && workload === base.workload ? base.workloadParams : workloadParams(workload, raw['workloadParams'], guestBytes),
    freePolicy: raw['freePolicy'] === undefined ? base.freePolicy : oneOf(raw['freePolicy'], FREE_POLICIES, 'free-time policy'),
    strategies: raw['strategies'] === undefined ? base.strategies : strategies(raw['strategies']),
    overlayMode: raw['overlayMode'] === undefined ? base.overlayMode : oneOf(raw['overlayMode'], OVERLAY_MODES, 'overlay mode'),
    bandwidth: bandwidth === undefined ? base.bandwidth : maxBandwidth(bandwidth),
    host: raw['host'] === undefined ? base.host : oneOf(raw['host'], HOST_NAMES, 'host'),
    vcpus: raw['vcpus'] === undefined ? base.vcpus : integer(raw['vcpus'], 'vCPUs', 1, MAX_VCPUS),
    downtimeLimitMs: raw['downtimeLimitMs'] === undefined ? base.downtimeLimitMs : number(raw['downtimeLimitMs'], 'downtime limit', 1, 60_000),
    warmupMs: raw['warmupMs'] === undefined ? base.warmupMs : number(raw['warmupMs'], 'warm-up', 0, 600_000),
    initOnAlloc: raw['initOnAlloc'] === undefined ? base.initOnAlloc : oneOf(String(raw['initOnAlloc']), ['true', 'false'], 'init_on_alloc') === 'true',
    seed: raw['seed'] === undefined ? base.seed : integer(raw['seed'], 'seed', 0, 2 ** 32 - 1),
  };
}

/** QEMU's max-bandwidth: a size per second such as 128M, bytes per second, or 'unlimited'. */
function maxBandwidth(value: unknown): number | 'unlimited' {
  if (value === 'unlimited') return 'unlimited';
  const bytes = typeof value === 'string' ? parseSize(value, 'bandwidth') : number(value, 'bandwidth', 1e6, 1e12);
  if (bytes < 1e6 || bytes > 1e12) throw new ScenarioError(`bandwidth '${String(value)}': expected 1M to 1T per second, or unlimited`);
  return bytes;
}

/** The host profile a scenario runs on. */
export function hostOf(scenario: Scenario): HostProfile {
  return HOST_PROFILES[scenario.host];
}

/** The engine's cost model for a scenario: its host's migration thread and its max-bandwidth. */
export function costOf(scenario: Scenario): CostModel {
  return { ...hostOf(scenario).migration, maxBandwidth: scenario.bandwidth === 'unlimited' ? Number.POSITIVE_INFINITY : scenario.bandwidth };
}

/** The workload a scenario names, with its parameter overrides. */
export function makeWorkload(scenario: Scenario): Workload {
  const p = scenario.workloadParams;
  switch (scenario.workload) {
    case 'idle':
      return idle(p);
    case 'compile':
      return compile(p);
    case 'hog':
      return hog(p);
    case 'sanitize':
      return sanitize(p);
    case 'written-then-freed':
      return writtenThenFreed(p);
  }
}
