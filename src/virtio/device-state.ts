/** The device core's saved state and its checks before a restore. */
import { Feature, Status, hasFeature } from './constants.js';
import { VIRTIO_ERROR_KINDS, type VirtioErrorKind } from './errors.js';
import { parseQueueState, type QueueState } from './queue-state.js';
import { StateError } from './state-error.js';
import { format, hexBits, integer, join, list, oneOf, record, text, u32 } from './state-fields.js';

/** The device-independent state that a snapshot or a migration carries. */
export interface VirtioDeviceState {
  readonly format: 'virtio-device';
  readonly version: 1;
  readonly status: number;
  /** The driver's feature bits, lowercase hex. */
  readonly driverFeatures: string;
  readonly interruptStatus: number;
  readonly configGeneration: number;
  readonly queues: readonly QueueState[];
  /** Queues kicked and not served yet (before DRIVER_OK, or past an action's work budget). */
  readonly pendingKicks: readonly number[];
  /** Why the device is in NEEDS_RESET, exactly when it is. */
  readonly needsReset?: { readonly kind: VirtioErrorKind; readonly message: string };
}

/** What the restoring device knows that the checks need. */
export interface DeviceStateRules {
  /** The features this device offers. */
  readonly offered: bigint;
  /** Whether FEATURES_OK would have been accepted with `features` (§2.2.1 and the device's rules). */
  readonly acceptable: (features: bigint) => boolean;
  /** QueueNumMax of each queue that exists under `features`, in index order. */
  readonly queueSizes: (features: bigint) => readonly number[];
}

/** Feature words a driver can write (four 32-bit selects). */
const FEATURE_BITS = 128;
/** A reason's message as the device writes it is a line; a longer one did not come from it. */
const MAX_MESSAGE = 1024;

/**
 * Check a saved device-independent state against the rules a device keeps, so that only
 * states it could have reached are accepted: a status byte where DRIVER_OK without
 * FEATURES_OK only with NEEDS_RESET (the transition failed); FEATURES_OK only for features the
 * device would accept; NEEDS_RESET exactly with a reason; interrupt bits only of a device that
 * went live; the queues the features in force make, in the layout they make, each as
 * {@link parseQueueState} allows.
 */
export function parseDeviceState(value: unknown, path: string, rules: DeviceStateRules): VirtioDeviceState {
  const v = record(value, path);
  format(v, path, 'format', 'virtio-device', 1);
  // Any byte: like QEMU, the device keeps status bits §2.1 does not define if a driver sets them.
  const status = integer(v['status'], join(path, 'status'), 0, 0xff);
  const needsReset = (status & Status.DEVICE_NEEDS_RESET) !== 0;
  if (status & Status.DRIVER_OK && !(status & Status.FEATURES_OK) && !needsReset) {
    throw new StateError(join(path, 'status'), 'DRIVER_OK without FEATURES_OK, and no NEEDS_RESET for it');
  }
  const driverFeatures = hexBits(v['driverFeatures'], join(path, 'driverFeatures'), FEATURE_BITS);
  if (status & Status.FEATURES_OK && !rules.acceptable(driverFeatures)) {
    throw new StateError(join(path, 'driverFeatures'), `0x${driverFeatures.toString(16)} is not a set this device accepts (offered 0x${rules.offered.toString(16)})`);
  }
  const interruptStatus = integer(v['interruptStatus'], join(path, 'interruptStatus'), 0, 3);
  if (interruptStatus !== 0 && !(status & Status.DRIVER_OK)) throw new StateError(join(path, 'interruptStatus'), 'interrupts of a device that never went live');
  const configGeneration = u32(v['configGeneration'], join(path, 'configGeneration'));

  const sizes = rules.queueSizes(status & Status.FEATURES_OK ? driverFeatures : rules.offered);
  const queuesPath = join(path, 'queues');
  const savedQueues = list(v['queues'], queuesPath, sizes.length);
  if (savedQueues.length !== sizes.length) throw new StateError(queuesPath, `has ${savedQueues.length} queues, the features in force make ${sizes.length}`);
  const live = (status & (Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET)) === Status.DRIVER_OK;
  // Queues are split until the driver negotiates RING_PACKED (the layout is fixed at FEATURES_OK).
  const packed = (status & Status.FEATURES_OK) !== 0 && hasFeature(driverFeatures, Feature.RING_PACKED);
  const queues = savedQueues.map((q, i) => parseQueueState(q, join(queuesPath, i), { maxSize: sizes[i]!, live, packed }));

  const kicksPath = join(path, 'pendingKicks');
  const pendingKicks = list(v['pendingKicks'], kicksPath, sizes.length).map((k, i) => integer(k, join(kicksPath, i), 0, sizes.length - 1));
  if (new Set(pendingKicks).size !== pendingKicks.length) throw new StateError(kicksPath, 'names a queue twice');

  const reasonPath = join(path, 'needsReset');
  if ((v['needsReset'] !== undefined) !== needsReset) throw new StateError(reasonPath, needsReset ? 'missing for a device in NEEDS_RESET' : 'given for a device not in NEEDS_RESET');
  const reason = needsReset ? record(v['needsReset'], reasonPath) : undefined;
  return {
    format: 'virtio-device',
    version: 1,
    status,
    driverFeatures: driverFeatures.toString(16),
    interruptStatus,
    configGeneration,
    queues,
    pendingKicks,
    ...(reason ? { needsReset: { kind: oneOf(reason['kind'], join(reasonPath, 'kind'), VIRTIO_ERROR_KINDS), message: text(reason['message'], join(reasonPath, 'message'), MAX_MESSAGE) } } : {}),
  };
}
