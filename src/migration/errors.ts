/**
 * How a migration failed (a rejected stream is a StreamError on the destination's side):
 * `source-failed` before the switchover, when the source can run on; `postcopy-failed` after
 * it, when the guest runs on the destination and pages it has not received are gone with the
 * channel (it must stop rather than read them as anything).
 */
export type MigrationErrorKind = 'source-failed' | 'postcopy-failed';

/** A migration that could not go on; the source guest keeps running with everything it had. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    readonly kind: MigrationErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
