export {
  BalloonFeature,
  BalloonConfig,
  BALLOON_PFN_SHIFT,
  BALLOON_PAGE_SIZE,
  CMD_ID_STOP,
  CMD_ID_DONE,
  DEFAULT_QUEUE_SIZES,
  STAT_TAGS,
  STAT_ENTRY_SIZE,
  type StatName,
} from './constants.js';
export { BALLOON_CHAIN_LIMITS, MAX_BLOCK_BYTES } from './chain-limits.js';
export {
  FreePageHint,
  nextCommandId,
  CMD_ID_MIN,
  CMD_ID_MAX,
  type IdRange,
  type NextCommandId,
  type HintState, type HintSnapshot, type CommandOutcome } from './free-page-hint.js';
export { wholePages, type PageRange } from './ranges.js';
export {
  BalloonDevice,
  balloonQueueRoles,
  type BalloonOptions,
  type BalloonQueueRole,
  type HintBatch,
  type BalloonStats,
  type BalloonCounters,
} from './balloon-device.js';
export { parseBalloonState, type BalloonState, type BalloonStateRules } from './balloon-state.js';
