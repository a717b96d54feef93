/** A queue's saved state and its checks, whatever the ring layout. */
import { MAX_QUEUE_SIZE } from './constants.js';
import type { PackedQueueState } from './packed-queue.js';
import { PACKED_ALIGN } from './packed-ring.js';
import { boolean, integer, join, list, oneOf, record, u16, u32 } from './state-fields.js';
import { StateError } from './state-error.js';
import { isValidQueueSize, type SplitQueueState } from './split-queue.js';

/** A saved queue of either layout, told apart by `layout`. */
export type QueueState = SplitQueueState | PackedQueueState;

/** Where a queue's saved state came from, as far as its checks need to know. */
export interface QueueRules {
  /** QueueNumMax of this queue on this device. */
  readonly maxSize: number;
  /** The device was live (DRIVER_OK, not NEEDS_RESET): a ready queue then passed activate(). */
  readonly live: boolean;
  /** VIRTIO_F_RING_PACKED is in force: every queue is packed, else every queue is split. */
  readonly packed: boolean;
}

/**
 * The largest address a driver can leave in a queue register: a high half of 2^21 or more
 * saturates to 2^53 (setHigh), and a low half written after it adds up to 2^32 - 1.
 */
const MAX_ADDRESS = 2 ** 53 + 2 ** 32;

/** Required alignment of each split ring area (§2.7 table). */
const ALIGN = { descTable: 16, availRing: 2, usedRing: 4 } as const;

/**
 * Check a saved queue. Its layout is the one the features in force make. A queue that is not
 * ready holds whatever the driver wrote (any u32 size, any address); a ready queue of a live
 * device passed activate(), so its size suits its layout and its areas are aligned. Whether
 * the areas are RAM is the destination's to check when it activates the queue (its RAM is
 * what counts).
 */
export function parseQueueState(value: unknown, path: string, rules: QueueRules): QueueState {
  const v = record(value, path);
  const layout = oneOf(v['layout'], join(path, 'layout'), ['split', 'packed'] as const);
  if ((layout === 'packed') !== rules.packed) throw new StateError(join(path, 'layout'), `is ${layout}, but VIRTIO_F_RING_PACKED is ${rules.packed ? '' : 'not '}in force`);
  if (layout === 'packed') return parsePackedQueueState(v, path, rules);
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

/** Required alignment of each packed ring area (§2.8.10.1), by saved field. */
const PACKED_AREAS = { descRing: PACKED_ALIGN.desc, driverEvent: PACKED_ALIGN.driver, deviceEvent: PACKED_ALIGN.device } as const;

/**
 * A packed queue's ring state is fresh (slot 0, both wrap counters 1, nothing in flight) until
 * it is activated, and again once the driver disables it; after that the size is fixed, both
 * positions lie in the ring, and the buffers in flight (distinct ids in the ring, in ascending
 * order) take exactly the slots from the used position to the available one, at most the ring.
 */
function parsePackedQueueState(v: Readonly<Record<string, unknown>>, path: string, rules: QueueRules): PackedQueueState {
  const at = (key: string): string => join(path, key);
  const wrap = (key: string): number => integer(v[key], at(key), 0, 1);
  const position = (key: string): number => integer(v[key], at(key), 0, MAX_QUEUE_SIZE - 1);
  const size = u32(v['size'], at('size'));
  const ready = boolean(v['ready'], at('ready'));
  const descRing = integer(v['descRing'], at('descRing'), 0, MAX_ADDRESS);
  const driverEvent = integer(v['driverEvent'], at('driverEvent'), 0, MAX_ADDRESS);
  const deviceEvent = integer(v['deviceEvent'], at('deviceEvent'), 0, MAX_ADDRESS);
  const nextAvail = position('nextAvail');
  const availWrap = wrap('availWrap');
  const nextUsed = position('nextUsed');
  const usedWrap = wrap('usedWrap');
  const inFlightPath = at('inFlight');
  const inFlight = list(v['inFlight'], inFlightPath, rules.maxSize).map((entry, i): readonly [number, number] => {
    const pair = list(entry, join(inFlightPath, i), 2);
    if (pair.length !== 2) throw new StateError(join(inFlightPath, i), 'is not an [id, slots] pair');
    return [integer(pair[0], join(join(inFlightPath, i), 0), 0, rules.maxSize - 1), integer(pair[1], join(join(inFlightPath, i), 1), 1, rules.maxSize)];
  });
  const state: PackedQueueState = { layout: 'packed', size, ready, descRing, driverEvent, deviceEvent, nextAvail, availWrap, nextUsed, usedWrap, inFlight };

  const validSize = Number.isInteger(size) && size >= 1 && size <= rules.maxSize;
  if (ready && rules.live) {
    if (!validSize) throw new StateError(at('size'), `a ready queue of a live device has size ${size}, not 1 to ${rules.maxSize}`);
    for (const [area, align] of Object.entries(PACKED_AREAS) as Array<[keyof typeof PACKED_AREAS, number]>) {
      if (state[area] % align !== 0) throw new StateError(at(area), `a ready queue of a live device has this area at 0x${state[area].toString(16)}, not ${align}-byte aligned`);
    }
  }
  const fresh = nextAvail === 0 && nextUsed === 0 && availWrap === 1 && usedWrap === 1 && inFlight.length === 0;
  if (fresh) return state;
  if (!ready) throw new StateError(at('ready'), 'a queue that is not ready has a fresh ring (slot 0, wrap counters 1, nothing in flight)');
  if (!validSize) throw new StateError(at('size'), `a ring in use has size ${size}, not 1 to ${rules.maxSize}`);
  if (nextAvail >= size) throw new StateError(at('nextAvail'), `slot ${nextAvail} is outside a ring of ${size}`);
  if (nextUsed >= size) throw new StateError(at('nextUsed'), `slot ${nextUsed} is outside a ring of ${size}`);
  let slots = 0;
  inFlight.forEach(([id, n], i) => {
    if (id >= size) throw new StateError(join(join(inFlightPath, i), 0), `buffer id ${id} is outside a ring of ${size}`);
    if (i > 0 && id <= inFlight[i - 1]![0]) throw new StateError(join(join(inFlightPath, i), 0), 'buffer ids are not in ascending order');
    slots += n;
  });
  // The driver's descriptors the device took and has not given back: from the used position
  // to the available one, a lap further when the wrap counters differ.
  // (A negative count, the available position behind the used one in the same lap, never equals
  // the slots, which are at least 0.)
  const taken = nextAvail - nextUsed + (availWrap === usedWrap ? 0 : size);
  if (taken > size || taken !== slots) {
    throw new StateError(inFlightPath, `buffers in flight take ${slots} slots, but the positions leave ${taken} between them in a ring of ${size}`);
  }
  return state;
}
