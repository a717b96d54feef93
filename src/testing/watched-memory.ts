/** Guest memory that watches the code under test: accesses outside RAM, budgets, writes. */
import { DelegatingMemory, type MemoryAccess } from '../memory/delegating-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';

/** Thrown by {@link WatchedMemory} when code under test makes more accesses than allowed. */
export class AccessBudgetExceeded extends Error {
  override readonly name = 'AccessBudgetExceeded';
}

/**
 * A GuestMemory wrapper for fuzzing: it records every access that reaches outside RAM (code
 * must check a guest-supplied range before touching it, not rely on the exception), counts
 * accesses and the bytes they touch, tells a listener about every write, and stops code that
 * makes more than `budget` accesses (an unbounded loop) by throwing.
 */
export class WatchedMemory extends DelegatingMemory {
  /** Accesses that were attempted outside RAM, as [gpa, length]. */
  readonly outOfRange: Array<readonly [number, number]> = [];
  accesses = 0;
  /** Bytes read, written or discarded, counted per access (the same byte twice counts twice). */
  bytes = 0;
  budgetExceeded = false;
  /** Called before every write, fill or discard that lies in RAM. */
  onWrite: ((gpa: number, length: number) => void) | undefined;

  constructor(
    inner: GuestMemory,
    private readonly budget = Number.POSITIVE_INFINITY,
  ) {
    super(inner);
  }

  protected override touch(gpa: number, length: number, access: MemoryAccess): void {
    if (++this.accesses > this.budget) {
      this.budgetExceeded = true;
      throw new AccessBudgetExceeded(`more than ${this.budget} guest memory accesses`);
    }
    if (!this.target.contains(gpa, length)) {
      this.outOfRange.push([gpa, length]);
      return;
    }
    this.bytes += length;
    if (access === 'write') this.onWrite?.(gpa, length);
  }
}
