/**
 * What a guest did wrong, one kind per spec rule it broke. A guest error never throws into the
 * VMM: the device core catches it and takes the NEEDS_RESET path with the error as the reason.
 */
export const VIRTIO_ERROR_KINDS = [
  // Descriptor chains (§2.7.5).
  'head-out-of-range',
  'next-out-of-range',
  'chain-too-long',
  'chain-too-large',
  'buffer-out-of-range',
  'indirect-not-negotiated',
  'indirect-with-next',
  'nested-indirect',
  'bad-indirect-length',
  'readable-after-writable',
  // Rings (§2.7.6–2.7.8, §2.7.13).
  'ring-out-of-range',
  'ring-misaligned',
  'bad-queue-size',
  'avail-index-too-far',
  // Packed rings (§2.8).
  'ring-overrun',
  'descriptor-not-available',
  'buffer-id-out-of-range',
  'buffer-id-in-use',
  // Device lifecycle (§2.1, §3.1).
  'bad-status-transition',
  'queue-not-ready',
  // Device-type rules (the balloon and others).
  'bad-buffer',
  // A value read from the guest that the host cannot represent (u64 above 2^53).
  'bad-value',
  // A bug in freehint itself, caught at the boundary so the VMM still does not see a throw.
  'internal',
] as const;

/** Why a device stopped serving a driver: one kind per spec violation or internal failure. */
export type VirtioErrorKind = (typeof VIRTIO_ERROR_KINDS)[number];

/** A typed device error: its kind and a message for people (the cause, when another error led to it). */
export class VirtioError extends Error {
  override readonly name = 'VirtioError';
  constructor(
    readonly kind: VirtioErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
