/** The balloon driver's virtqueues as its probe sets them up: Linux's compacted numbering, each queue with its index, the optional ones only when negotiated, of the negotiated layout. */
import { PAGE_SIZE } from '../memory/guest-memory.js';
import { BalloonFeature } from '../virtio/balloon/constants.js';
import { Feature, hasFeature } from '../virtio/constants.js';
import { layoutRing } from './driver-queue.js';
import type { DriverVirtqueue } from './driver-virtqueue.js';
import { layoutPackedRing } from './packed-driver-queue.js';
import type { TransportDriver } from './transport-driver.js';

/** PAGE_REPORTING_CAPACITY: scatter-gather entries per report. */
export const REPORTING_CAPACITY = 32;

/** A tell_host request in flight: the PFNs in it and which queue carries it. */
export interface BalloonRequest {
  readonly kind: 'inflate' | 'deflate';
  readonly pfns: readonly number[];
}

/** A queue and the index the device knows it by. */
export interface IndexedQueue<T> {
  readonly index: number;
  readonly queue: DriverVirtqueue<T>;
}

/** The queues of a probed balloon driver. */
export interface BalloonQueues {
  readonly inflate: IndexedQueue<BalloonRequest>;
  readonly deflate: IndexedQueue<BalloonRequest>;
  /** With STATS_VQ: the stats buffer the device holds. */
  readonly stats: IndexedQueue<'stats'> | undefined;
  /** With FREE_PAGE_HINT: command ids ('cmd') and hinted blocks (their head PFN). */
  readonly freePage: IndexedQueue<'cmd' | number> | undefined;
  /** With PAGE_REPORTING: reports, each a list of [head, order] blocks. */
  readonly reporting: IndexedQueue<Array<[number, number]>> | undefined;
}

/**
 * Set up the queues `features` call for, at Linux's indices (inflate 0, deflate 1, then stats,
 * free page and reporting in that order, each only if negotiated), with rings in pages from
 * `allocPages`. Undefined when the device's queues are too small for the driver (the probe
 * fails, as Linux's does with ENOSPC).
 */
export function setUpBalloonQueues(transport: TransportDriver, features: bigint, allocPages: (count: number) => number): BalloonQueues | undefined {
  const has = (bit: number): boolean => hasFeature(features, bit);
  const eventIdx = has(Feature.EVENT_IDX);
  const packed = has(Feature.RING_PACKED);
  // vring_create_virtqueue: the layout the features chose, packed with RING_PACKED, else split.
  const setUp = <T>(index: number): IndexedQueue<T> => {
    const size = transport.queueMaxSize(index);
    const bytes = packed ? layoutPackedRing(0, size).end : layoutRing(0, size).end;
    const base = allocPages(Math.ceil(bytes / PAGE_SIZE)) * PAGE_SIZE;
    const queue = packed ? transport.setupPackedQueue<T>(index, layoutPackedRing(base, size), { eventIdx }) : transport.setupQueue<T>(index, layoutRing(base, size), { eventIdx });
    return { index, queue };
  };
  let next = 2;
  const statsIndex = has(BalloonFeature.STATS_VQ) ? next++ : undefined;
  const freePageIndex = has(BalloonFeature.FREE_PAGE_HINT) ? next++ : undefined;
  const reportingIndex = has(BalloonFeature.PAGE_REPORTING) ? next++ : undefined;
  const inflate = setUp<BalloonRequest>(0);
  const deflate = setUp<BalloonRequest>(1);
  const stats = statsIndex === undefined ? undefined : setUp<'stats'>(statsIndex);
  let freePage: IndexedQueue<'cmd' | number> | undefined;
  if (freePageIndex !== undefined) {
    // The probe fails with ENOSPC below 2 entries: one slot stays free for the STOP buffer.
    if (transport.queueMaxSize(freePageIndex) < 2) return undefined;
    freePage = setUp<'cmd' | number>(freePageIndex);
    freePage.queue.setInterrupts(false); // Linux gives this queue no callback
  }
  let reporting: IndexedQueue<Array<[number, number]>> | undefined;
  if (reportingIndex !== undefined) {
    // The probe fails when a full report (32 entries) cannot fit in the ring.
    if (transport.queueMaxSize(reportingIndex) < REPORTING_CAPACITY) return undefined;
    reporting = setUp<Array<[number, number]>>(reportingIndex);
  }
  return { inflate, deflate, stats, freePage, reporting };
}
