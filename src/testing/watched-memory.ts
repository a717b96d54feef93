import type { DirtyLog } from '../memory/dirty-log.js';
import type { GuestMemory, RamRegion } from '../memory/guest-memory.js';

/** Thrown by {@link WatchedMemory} when code under test makes more accesses than allowed. */
export class AccessBudgetExceeded extends Error {
  override readonly name = 'AccessBudgetExceeded';
}

/**
 * A GuestMemory wrapper for fuzzing: it records every access that reaches outside RAM (code
 * must check a guest-supplied range before touching it, not rely on the exception) and stops
 * code that makes more than `budget` accesses (an unbounded loop) by throwing.
 */
export class WatchedMemory implements GuestMemory {
  /** Accesses that were attempted outside RAM, as [gpa, length]. */
  readonly outOfRange: Array<readonly [number, number]> = [];
  accesses = 0;
  budgetExceeded = false;

  constructor(
    readonly inner: GuestMemory,
    private budget = Number.POSITIVE_INFINITY,
  ) {}

  /** Allow `budget` more accesses from now on. */
  resetBudget(budget: number): void {
    this.budget = budget;
    this.accesses = 0;
  }

  private touch(gpa: number, length: number): void {
    if (++this.accesses > this.budget) {
      this.budgetExceeded = true;
      throw new AccessBudgetExceeded(`more than ${this.budget} guest memory accesses`);
    }
    if (!this.inner.contains(gpa, length)) this.outOfRange.push([gpa, length]);
  }

  get regions(): readonly RamRegion[] {
    return this.inner.regions;
  }
  get end(): number {
    return this.inner.end;
  }
  get ramSize(): number {
    return this.inner.ramSize;
  }
  get dirtyLog(): DirtyLog {
    return this.inner.dirtyLog;
  }
  contains(gpa: number, length: number): boolean {
    return this.inner.contains(gpa, length);
  }
  read(gpa: number, length: number): Uint8Array {
    this.touch(gpa, length);
    return this.inner.read(gpa, length);
  }
  readInto(gpa: number, target: Uint8Array): void {
    this.touch(gpa, target.length);
    this.inner.readInto(gpa, target);
  }
  write(gpa: number, data: Uint8Array): void {
    this.touch(gpa, data.length);
    this.inner.write(gpa, data);
  }
  fill(gpa: number, length: number, byte: number): void {
    this.touch(gpa, length);
    this.inner.fill(gpa, length, byte);
  }
  readU8(gpa: number): number {
    this.touch(gpa, 1);
    return this.inner.readU8(gpa);
  }
  readU16(gpa: number): number {
    this.touch(gpa, 2);
    return this.inner.readU16(gpa);
  }
  readU32(gpa: number): number {
    this.touch(gpa, 4);
    return this.inner.readU32(gpa);
  }
  readU64(gpa: number): number {
    this.touch(gpa, 8);
    return this.inner.readU64(gpa);
  }
  writeU8(gpa: number, value: number): void {
    this.touch(gpa, 1);
    this.inner.writeU8(gpa, value);
  }
  writeU16(gpa: number, value: number): void {
    this.touch(gpa, 2);
    this.inner.writeU16(gpa, value);
  }
  writeU32(gpa: number, value: number): void {
    this.touch(gpa, 4);
    this.inner.writeU32(gpa, value);
  }
  writeU64(gpa: number, value: number): void {
    this.touch(gpa, 8);
    this.inner.writeU64(gpa, value);
  }
  discard(gpa: number, length: number): void {
    this.touch(gpa, length);
    this.inner.discard(gpa, length);
  }
  isZeroPage(pfn: number): boolean {
    this.touch(pfn * 4096, 4096);
    return this.inner.isZeroPage(pfn);
  }
}
