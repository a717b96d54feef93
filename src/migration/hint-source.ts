/** What the migration engine needs of a device that hints free pages (the balloon device is one): the command-id protocol and its hints. */
import type { Observable } from 'rxjs';

/** A guest-physical range the guest reported free (page aligned). */
export interface HintedRange {
  readonly gpa: number;
  readonly length: number;
}

/**
 * Free ranges the guest reported under one command id: the shape of the balloon device's
 * `HintBatch`, said here so that the engine does not depend on the device.
 */
export interface HintBatch {
  readonly cmdId: number;
  readonly ranges: readonly HintedRange[];
}

/** The host side of the free-page-hint protocol (virtio 1.2 §5.5.6.5; QEMU's commands to the device). */
export interface HintSource {
  /** Hints as the device accepts them, emitted synchronously: none arrives after {@link stopHinting} returns. */
  readonly hints$: Observable<HintBatch>;
  /** Start a round with a new command id; undefined when the device cannot hint now. */
  startHinting(): number | undefined;
  /** End the running round (before a bitmap sync). */
  stopHinting(): void;
  /** The migration is over: the guest may use the pages it held for hinting again. */
  doneHinting(): void;
}
