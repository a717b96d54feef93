/** A queue's saved state and its checks, whatever the ring layout. */
import { boolean, integer, join, oneOf, record, u16, u32 } from './state-fields.js';
import { StateError } from './state-error.js';
import { isValidQueueSize, type SplitQueueState } from './split-queue.js';

/** A saved queue of any layout: split rings today; a packed layout will be another variant. */
export type QueueState = SplitQueueState;

/** Where a queue's saved state came from, as far as its checks need to know. */
export interface QueueRules {
  /** QueueNumMax of this queue on this device. */
  readonly maxSize: number;
  /** The device was live (DRIVER_OK, not NEEDS_RESET): a ready queue then passed activate(). */
  readonly live: boolean;
}

/**
 * The largest address a driver can leave in a queue register: a high half of 2^21 or more
 * saturates to 2^53 (setHigh), and a low half written after it adds up to 2^32 - 1.
 */
const MAX_ADDRESS = 2 ** 53 + 2 ** 32;

/** Required alignment of each ring area (§2.7 table). */
const ALIGN = { descTable: 16, availRing: 2, usedRing: 4 } as const;

/**
 * Check a saved queue. A queue that is not ready holds whatever the driver wrote (any u32
 * size, any address); a ready queue of a live device passed activate(), so its size is a
 * power of two up to QueueNumMax and its areas are aligned. Whether the areas are RAM is the
 * destination's to check when it activates the queue (its RAM is what counts).
 */
export function parseQueueState(value: unknown, path: string, rules: QueueRules): QueueState {
  const v = record(value, path);
  oneOf(v['layout'], join(path, 'layout'), ['split'] as const);
  const state: SplitQueueState = {
    layout: 'split',
    size: u32(v['size'], join(path, 'size')),
    ready: boolean(v['ready'], join(path, 'ready')),
    descTable: integer(v['descTable'], join(path, 'descTable'), 0, MAX_ADDRESS),
    availRing: integer(v['availRing'], join(path, 'availRing'), 0, MAX_ADDRESS),
    usedRing: integer(v['usedRing'], join(path, 'usedRing'), 0, MAX_ADDRESS),
    nextAvail: u16(v['nextAvail'], join(path, 'nextAvail')),
    nextUsed: u16(v['nextUsed'], join(path, 'nextUsed')),
  };
  if (state.ready && rules.live) {
    if (!isValidQueueSize(state.size, rules.maxSize)) throw new StateError(join(path, 'size'), `a ready queue of a live device has size ${state.size}, not a power of two up to ${rules.maxSize}`);
    for (const area of ['descTable', 'availRing', 'usedRing'] as const) {
      if (state[area] % ALIGN[area] !== 0) throw new StateError(join(path, area), `a ready queue of a live device has this area at 0x${state[area].toString(16)}, not ${ALIGN[area]}-byte aligned`);
    }
  }
  return state;
}
