/**
 * A saved state that cannot be restored: malformed, of another format or version, or a state
 * the device could never have reached. `field` names the first offending field (a path such as
 * `core.queues[2].descTable`). Restoring checks the whole state before it changes anything, so
 * after a StateError the device is exactly as it was.
 */
export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}
