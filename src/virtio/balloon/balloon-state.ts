/** The balloon's saved state and its checks before a restore. */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { Status, hasFeature } from '../constants.js';
import type { VirtioDeviceState } from '../device-state.js';
import { StateError } from '../state-error.js';
import { format, integer, join, list, oneOf, record, u32 } from '../state-fields.js';
import { BALLOON_PAGE_SIZE, BalloonFeature, type BalloonQueueRole } from './constants.js';
import type { HintSnapshot, HintState, IdRange } from './free-page-hint.js';

/** A balloon's saved state (migration, snapshots): version 1 of the `balloon` format. */
export interface BalloonState {
  readonly format: 'balloon';
  readonly version: 1;
  readonly core: VirtioDeviceState;
  readonly numPages: number;
  readonly actual: number;
  readonly poisonVal: number;
  readonly hint: HintSnapshot;
  /** Inflated pages as [first 4 KiB PFN, count] runs, ascending and disjoint. */
  readonly inflated: ReadonlyArray<readonly [number, number]>;
  /** Head of the stats buffer the device holds, if any. */
  readonly statsHead?: number | undefined;
}

/** What the restoring balloon knows that the checks need. */
export interface BalloonStateRules {
  readonly memory: GuestMemory;
  readonly offered: bigint;
  readonly idRange: IdRange;
  /** The device core's own check of `core` (parseDeviceState with the device's rules). */
  readonly parseCore: (value: unknown, path: string) => VirtioDeviceState;
  readonly queueRoles: (features: bigint) => readonly BalloonQueueRole[];
}

const HINT_STATES: readonly HintState[] = ['stop', 'requested', 'start', 'done'];

/**
 * Check a saved balloon before anything is restored. Besides the device core's rules: u32
 * config fields; poison_val only where PAGE_POISON is offered; a hint round only under a
 * negotiated FREE_PAGE_HINT on a device that went live, with an id this machine could issue;
 * inflated pages only RAM pages, of a device that went live, in ascending disjoint runs — so
 * restoring costs at most the RAM's page count, whatever counts the state claims; a held stats
 * buffer only as a head of the ready stats queue of a device that went live.
 */
export function parseBalloonState(value: unknown, rules: BalloonStateRules): BalloonState {
  const v = record(value, 'state');
  format(v, '', 'format', 'balloon', 1);
  const core = rules.parseCore(v['core'], 'core');
  const wentLive = (core.status & Status.DRIVER_OK) !== 0;
  const featuresOk = (core.status & Status.FEATURES_OK) !== 0;
  const features = featuresOk ? BigInt(`0x${core.driverFeatures}`) : rules.offered;
  const negotiated = (bit: number): boolean => featuresOk && hasFeature(features, bit);

  const poisonVal = u32(v['poisonVal'], 'poisonVal');
  if (poisonVal !== 0 && !hasFeature(rules.offered, BalloonFeature.PAGE_POISON)) throw new StateError('poisonVal', 'set on a device that does not offer PAGE_POISON');

  const h = record(v['hint'], 'hint');
  const hint: HintSnapshot = { state: oneOf(h['state'], 'hint.state', HINT_STATES), cmdId: integer(h['cmdId'], 'hint.cmdId', rules.idRange.min, rules.idRange.max) };
  if ((hint.state === 'requested' || hint.state === 'start') && !(wentLive && negotiated(BalloonFeature.FREE_PAGE_HINT))) {
    throw new StateError('hint.state', `${hint.state} on a device that is not hinting (FREE_PAGE_HINT not negotiated, or never live)`);
  }

  return {
    format: 'balloon',
    version: 1,
    core,
    numPages: u32(v['numPages'], 'numPages'),
    actual: u32(v['actual'], 'actual'),
    poisonVal,
    hint,
    inflated: parseInflated(v['inflated'], rules.memory, wentLive),
    statsHead: parseStatsHead(v['statsHead'], core, wentLive, rules.queueRoles(features)),
  };
}

/** Inflated runs: each [first, count] lies in RAM and after the one before it. */
function parseInflated(value: unknown, memory: GuestMemory, wentLive: boolean): ReadonlyArray<readonly [number, number]> {
  const pages = Math.ceil(memory.end / BALLOON_PAGE_SIZE);
  // Disjoint runs of at least one page: never more runs than pages.
  const runs = list(value, 'inflated', pages);
  if (runs.length > 0 && !wentLive) throw new StateError('inflated', 'pages inflated on a device that never went live');
  let end = 0;
  return runs.map((run, i) => {
    const path = join('inflated', i);
    const [first, count] = list(run, path, 2);
    if (count === undefined) throw new StateError(path, 'is not a [first, count] pair');
    const at = integer(first, join(path, 0), end, pages - 1);
    const n = integer(count, join(path, 1), 1, pages - at);
    if (!memory.contains(at * BALLOON_PAGE_SIZE, n * BALLOON_PAGE_SIZE)) throw new StateError(path, `pages ${at}..${at + n - 1} are not all RAM`);
    end = at + n;
    return [at, n] as const;
  });
}

/** A held stats buffer: a head of the stats queue, which is ready on a device that went live. */
function parseStatsHead(value: unknown, core: VirtioDeviceState, wentLive: boolean, roles: readonly BalloonQueueRole[]): number | undefined {
  const stats = roles.indexOf('stats');
  let held: number | undefined;
  if (value !== undefined) {
    const queue = core.queues[stats];
    if (queue === undefined || !queue.ready || !wentLive) throw new StateError('statsHead', 'a held stats buffer needs a negotiated, ready stats queue on a device that went live');
    held = integer(value, 'statsHead', 0, queue.size - 1);
  }
  checkPackedInFlight(core, stats, held);
  return held;
}

/**
 * A packed ring knows which buffers the device holds (§2.8.6): the stats buffer is one of them,
 * and on a live device it is the only one, since every other queue gives its buffers back in
 * the kick that brings them (a device that failed mid-chain may keep the one it was serving).
 */
function checkPackedInFlight(core: VirtioDeviceState, stats: number, held: number | undefined): void {
  const live = (core.status & (Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET)) === Status.DRIVER_OK;
  core.queues.forEach((queue, i) => {
    if (queue.layout !== 'packed') return;
    const ids = queue.inFlight.map(([id]) => id);
    const mine = i === stats && held !== undefined;
    if (mine && !ids.includes(held)) throw new StateError('statsHead', `buffer ${held} is not in flight on the packed stats queue`);
    if (live && ids.length > (mine ? 1 : 0)) {
      throw new StateError(`core.queues[${i}].inFlight`, `a live balloon holds ${mine ? 'only the stats buffer' : 'no buffer'} here, not ${ids.length}`);
    }
  });
}
