/** Guest memory that forwards every access to another one, and lets subclasses see each access first (a watcher, a postcopy destination, a guest that moves hosts). */
import type { DirtyLog } from './dirty-log.js';
import { PAGE_SIZE, type GuestMemory, type PageDescriber, type PageDescription, type PatternRun, type RamRegion } from './guest-memory.js';

/** What an access does to guest memory: reads it, or changes it (writes, fills, discards). */
export type MemoryAccess = 'read' | 'write';

/**
 * A GuestMemory that forwards every access to another one. Subclasses watch accesses (the
 * fuzzing kit) or change the target (a guest that moves to another host at switchover).
 * Accesses by description go through {@link describer}, seen like any other.
 */
export class DelegatingMemory implements GuestMemory {
  readonly #describer: PageDescriber;

  constructor(protected target: GuestMemory) {
    // The target may change (a subclass moves it): each call asks the target of the moment.
    const inner = (): PageDescriber => this.target.describer!;
    this.#describer = {
      get patternSeed() {
        return inner().patternSeed;
      },
      zeroRun: (pfn, max) => {
        this.touch(pfn * PAGE_SIZE, max * PAGE_SIZE, 'read');
        return inner().zeroRun(pfn, max);
      },
      describe: (pfn): PageDescription | undefined => {
        this.touch(pfn * PAGE_SIZE, PAGE_SIZE, 'read');
        return inner().describe(pfn);
      },
      patternRuns: (pfn, max, out: PatternRun[]) => {
        this.touch(pfn * PAGE_SIZE, max * PAGE_SIZE, 'read');
        return inner().patternRuns(pfn, max, out);
      },
      writePatternRuns: (pfn, runs) => {
        let pages = 0;
        for (const run of runs) pages += run.count;
        this.touch(pfn * PAGE_SIZE, pages * PAGE_SIZE, 'write');
        inner().writePatternRuns(pfn, runs);
      },
    };
  }

  /** Called before every access with the range it touches and what it does there. */
  protected touch(_gpa: number, _length: number, _access: MemoryAccess): void {}

  /** The target's describer, forwarded, when the target has one. */
  get describer(): PageDescriber | undefined {
    return this.target.describer === undefined ? undefined : this.#describer;
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
    this.touch(pfn * PAGE_SIZE, PAGE_SIZE, 'read');
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
