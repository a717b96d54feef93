/**
 * What a hostile input made a device do wrong:
 * - `threw`: an exception reached the caller (the VMM) from a transport call;
 * - `out-of-range`: the device touched guest memory outside RAM instead of checking first;
 * - `unbounded`: it used up the access budget (a loop the guest controls);
 * - `internal`: it went to NEEDS_RESET for a fault of its own, not of the guest;
 * - `inconsistent`: its end state or its behaviour breaks a spec rule (see {@link DeviceAudit});
 * - `used-length`: a used entry says the device wrote more than it did (§2.7.8.2);
 * - `device-rule`: a device-specific check failed (an `observe` hook).
 */
export type ViolationKind = 'threw' | 'out-of-range' | 'unbounded' | 'internal' | 'inconsistent' | 'used-length' | 'device-rule';

/** A broken rule a fuzz run found: its kind and what happened. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
}

/** Thrown by fuzz properties so that a failure carries every violation of the input. */
export class ViolationError extends Error {
  override readonly name = 'ViolationError';
  constructor(readonly violations: readonly Violation[]) {
    super(violations.map((v) => `${v.kind}: ${v.message}`).join('; '));
  }
}
