/** Balloon feature bits (virtio 1.2 §5.5.3). */
export const BalloonFeature = {
  MUST_TELL_HOST: 0,
  STATS_VQ: 1,
  DEFLATE_ON_OOM: 2,
  FREE_PAGE_HINT: 3,
  PAGE_POISON: 4,
  /** Linux calls it VIRTIO_BALLOON_F_REPORTING. */
  PAGE_REPORTING: 5,
} as const;

/** Config space offsets (§5.5.4); every field is le32. */
export const BalloonConfig = {
  NUM_PAGES: 0,
  ACTUAL: 4,
  FREE_PAGE_HINT_CMD_ID: 8,
  POISON_VAL: 12,
} as const;

/** Inflate/deflate PFNs are in 4 KiB units whatever the page size (VIRTIO_BALLOON_PFN_SHIFT). */
export const BALLOON_PFN_SHIFT = 12;
/** The page the balloon counts in, 4 KiB (VIRTIO_BALLOON_PFN_SHIFT). */
export const BALLOON_PAGE_SIZE = 1 << BALLOON_PFN_SHIFT;

/** Reserved free-page-hint command ids (§5.5.6.5). */
export const CMD_ID_STOP = 0;
/** The command id that tells the driver hinting is over and it may free what it holds. */
export const CMD_ID_DONE = 1;

/** The balloon's queues, in the order Linux numbers them (absent ones are skipped). */
export type BalloonQueueRole = 'inflate' | 'deflate' | 'stats' | 'freePage' | 'reporting';

/** QEMU's queue sizes, which Linux drivers are tested against. */
export const DEFAULT_QUEUE_SIZES = {
  inflate: 128,
  deflate: 128,
  stats: 128,
  freePage: 1024,
  reporting: 32,
} as const;

/** Memory statistics tags (§5.5.6.3; 10–15 as Linux and Firecracker define them). */
export const STAT_TAGS = [
  'swapIn',
  'swapOut',
  'majorFaults',
  'minorFaults',
  'freeMemory',
  'totalMemory',
  'availableMemory',
  'diskCaches',
  'hugetlbAllocations',
  'hugetlbFailures',
  'oomKills',
  'allocStalls',
  'asyncScans',
  'directScans',
  'asyncReclaims',
  'directReclaims',
] as const;

/** A memory statistic's name, in the order of its tag (§5.5.6.3). */
export type StatName = (typeof STAT_TAGS)[number];
/** Bytes per stats entry: le16 tag, le64 value, packed. */
export const STAT_ENTRY_SIZE = 10;
