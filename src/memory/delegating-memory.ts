import type { DirtyLog } from './dirty-log.js';
import type { GuestMemory, RamRegion } from './guest-memory.js';

/** What an access does to guest memory: reads it, or changes it (writes, fills, discards). */
export type MemoryAccess = 'read' | 'write';

/**
 * A GuestMemory that forwards every access to another one. Subclasses watch accesses (the
 * fuzzing kit) or change the target (a guest that moves to another host at switchover).
 */
export class DelegatingMemory implements GuestMemory {
  constructor(protected target: GuestMemory) {}

  /** The memory that holds the bytes, through any number of delegations. */
  get backing(): GuestMemory {
    return this.target instanceof DelegatingMemory ? this.target.backing : this.target;
  }

  /** Called before every access with the range it touches and what it does there. */
  protected touch(_gpa: number, _length: number, _access: MemoryAccess): void {}

  /**
   * Announce an access that goes straight to {@link backing} (compact page operations, which
   * may change the pages): a subclass sees it like any other, before it happens.
   */
  announce(gpa: number, length: number): void {
    this.touch(gpa, length, 'write');
    if (this.target instanceof DelegatingMemory) this.target.announce(gpa, length);
  }

  get regions(): readonly RamRegion[] {
    return this.target.regions;
  }
  get end(): number {
    return this.target.end;
  }
  get ramSize(): number {
    return this.target.ramSize;
  }
  get dirtyLog(): DirtyLog {
    return this.target.dirtyLog;
  }
  contains(gpa: number, length: number): boolean {
    return this.target.contains(gpa, length);
  }
  read(gpa: number, length: number): Uint8Array {
    this.touch(gpa, length, 'read');
    return this.target.read(gpa, length);
  }
  readInto(gpa: number, target: Uint8Array): void {
    this.touch(gpa, target.length, 'read');
    this.target.readInto(gpa, target);
  }
  write(gpa: number, data: Uint8Array): void {
    this.touch(gpa, data.length, 'write');
    this.target.write(gpa, data);
  }
  fill(gpa: number, length: number, byte: number): void {
    this.touch(gpa, length, 'write');
    this.target.fill(gpa, length, byte);
  }
  readU8(gpa: number): number {
    this.touch(gpa, 1, 'read');
    return this.target.readU8(gpa);
  }
  readU16(gpa: number): number {
    this.touch(gpa, 2, 'read');
    return this.target.readU16(gpa);
  }
  readU32(gpa: number): number {
    this.touch(gpa, 4, 'read');
    return this.target.readU32(gpa);
  }
  readU64(gpa: number): number {
    this.touch(gpa, 8, 'read');
    return this.target.readU64(gpa);
  }
  writeU8(gpa: number, value: number): void {
    this.touch(gpa, 1, 'write');
    this.target.writeU8(gpa, value);
  }
  writeU16(gpa: number, value: number): void {
    this.touch(gpa, 2, 'write');
    this.target.writeU16(gpa, value);
  }
  writeU32(gpa: number, value: number): void {
    this.touch(gpa, 4, 'write');
    this.target.writeU32(gpa, value);
  }
  writeU64(gpa: number, value: number): void {
    this.touch(gpa, 8, 'write');
    this.target.writeU64(gpa, value);
  }
  discard(gpa: number, length: number): void {
    this.touch(gpa, length, 'write');
    this.target.discard(gpa, length);
  }
  isZeroPage(pfn: number): boolean {
    this.touch(pfn * 4096, 4096, 'read');
    return this.target.isZeroPage(pfn);
  }
}

/** Guest memory as the guest's software sees it: it can be moved to another host's RAM. */
export class MovableMemory extends DelegatingMemory {
  /** From now on every access goes to `memory` (same layout). */
  moveTo(memory: GuestMemory): void {
    if (memory.end !== this.target.end || memory.ramSize !== this.target.ramSize) throw new RangeError('the new memory has another layout');
    this.target = memory;
  }
}
