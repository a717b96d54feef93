/** The balloon queues' chain limits: what one buffer of each queue may hold and cost. */
import type { ChainLimits } from '../descriptor-chain.js';
import { BALLOON_PAGE_SIZE, STAT_ENTRY_SIZE, STAT_TAGS, type BalloonQueueRole } from './constants.js';

/**
 * Linux's largest free block with 4 KiB pages: order MAX_PAGE_ORDER = 10. A free page hint
 * buffer is one such block (VIRTIO_BALLOON_HINT_BLOCK_ORDER), and a report entry at most one.
 */
export const MAX_BLOCK_BYTES = 4 << 20;

/**
 * Buffers per chain for the queues whose drivers send one buffer per chain (Linux uses one
 * scatterlist entry for inflate, deflate, stats and each hint or command). §2.7.4.1 forbids
 * assuming how a buffer is split; eight lets a driver split one at page boundaries.
 */
const SPLIT_ROOM = 8;

/** Bytes of one page of le32 PFNs: 1024 PFNs. */
const PFN_PAGE = 4096;

/**
 * What each balloon queue accepts in one chain — what real drivers send — and the most one
 * chain can cost: its descriptor reads, plus the pages it reads and the items it acts on:
 * - inflate, deflate: Linux's tell_host sends at most VIRTIO_BALLOON_ARRAY_PFNS_MAX = 256 le32
 *   PFNs (1 KiB); virtio-win at most a page's worth. One page of PFNs (1024) covers both; the
 *   device reads that page, and each PFN may discard a 4 KiB page.
 * - stats: at most 16 tags (Linux's VIRTIO_BALLOON_S_NR, tags 0–15) of 10 bytes.
 * - freePage: a 4-byte command id, or one hint block of {@link MAX_BLOCK_BYTES}. The device
 *   reads the command's page and never touches hinted memory: a hint costs one range published.
 * - reporting: PAGE_REPORTING_CAPACITY = 32 blocks per report (Linux refuses a smaller queue),
 *   each at most {@link MAX_BLOCK_BYTES}: a range published each, and every page discarded.
 * Guests with larger base pages (arm64 with 64 KiB pages: 512 MiB blocks) send larger hint
 * and report buffers than these limits allow.
 */
export const BALLOON_CHAIN_LIMITS: Readonly<Record<BalloonQueueRole, ChainLimits>> = {
  inflate: limits(SPLIT_ROOM, PFN_PAGE, 1 + PFN_PAGE / 4),
  deflate: limits(SPLIT_ROOM, PFN_PAGE, 1 + PFN_PAGE / 4),
  stats: limits(SPLIT_ROOM, STAT_TAGS.length * STAT_ENTRY_SIZE, 1 + STAT_TAGS.length),
  freePage: limits(SPLIT_ROOM, 4 + MAX_BLOCK_BYTES, 1 + SPLIT_ROOM),
  reporting: limits(32, 32 * MAX_BLOCK_BYTES, 32 + (32 * MAX_BLOCK_BYTES) / BALLOON_PAGE_SIZE),
};

/** Limits whose cost is the walk (every buffer and an indirect table's descriptor) plus `work`. */
function limits(maxSegments: number, maxBytes: number, work: number): ChainLimits {
  return { maxSegments, maxBytes, cost: maxSegments + 1 + work };
}
