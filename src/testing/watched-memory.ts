import { DelegatingMemory } from '../memory/delegating-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';

/** Thrown by {@link WatchedMemory} when code under test makes more accesses than allowed. */
export class AccessBudgetExceeded extends Error {
  override readonly name = 'AccessBudgetExceeded';
}

/**
 * A GuestMemory wrapper for fuzzing: it records every access that reaches outside RAM (code
 * must check a guest-supplied range before touching it, not rely on the exception) and stops
 * code that makes more than `budget` accesses (an unbounded loop) by throwing.
 */
export class WatchedMemory extends DelegatingMemory {
  /** Accesses that were attempted outside RAM, as [gpa, length]. */
  readonly outOfRange: Array<readonly [number, number]> = [];
  accesses = 0;
  budgetExceeded = false;

  constructor(
    inner: GuestMemory,
    private readonly budget = Number.POSITIVE_INFINITY,
  ) {
    super(inner);
  }

  protected override touch(gpa: number, length: number): void {
    if (++this.accesses > this.budget) {
      this.budgetExceeded = true;
      throw new AccessBudgetExceeded(`more than ${this.budget} guest memory accesses`);
    }
    if (!this.target.contains(gpa, length)) this.outOfRange.push([gpa, length]);
  }
}
