/** How a migration failed (a rejected stream is a StreamError on the destination's side). */
export type MigrationErrorKind = 'source-failed';

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
