export { StreamWriter, StreamReader, StreamError, RecordType, STREAM_MAGIC, STREAM_VERSION, RECORD_OVERHEAD, type StreamRecord, type StreamErrorKind, type ByteSink } from './stream.js';
export { Destination, Incoming, type Received } from './destination.js';
export { DEFAULT_COST_MODEL, SimClock, type CostModel } from './cost-model.js';
export { strategySet, StrategyError, STRATEGIES, type Strategy, type StrategySet } from './strategies.js';
export {
  PrecopyMigration,
  SAFE_PIECES,
  type MigrationSource,
  type MigrationResult,
  type RoundProgress,
  type EnginePieces,
  type HintWindow,
  type PrecopyOptions,
  type HandOff,
  HAND_OFF_RECORD,
} from './precopy.js';
export { OverlayManager, overlayContent, OVERLAY_KINDS, type Overlay, type OverlayKind, type OverlayMode, type OverlayPageState } from './overlay.js';
export { MigrationError, type MigrationErrorKind } from './errors.js';
export { PostcopySession, SAFE_POSTCOPY_PIECES, type HintPolicy, type PostcopyParams, type PostcopyPieces, type PostcopyStats, type LatencySummary, type Channel, type PlacementViolation } from './postcopy.js';
export { PageSender, type ZeroPolicy, type SendCounts } from './page-sender.js';
export { WIRE_PAGE_BYTES, WIRE_ZERO_PAGE_BYTES } from './cost-model.js';
