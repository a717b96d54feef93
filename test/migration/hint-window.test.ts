import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { PageBitmap } from '../../src/memory/page-bitmap.js';
import type { HintBatch, HintSource } from '../../src/migration/hint-source.js';
import { HintWindow } from '../../src/migration/hint-window.js';
import { SAFE_PRECOPY_RULES } from '../../src/migration/safety-rules.js';

/** A hint source that records the host's commands and emits what the test says. */
class FakeSource implements HintSource {
  readonly hints$ = new Subject<HintBatch>();
  readonly commands: string[] = [];
  private nextId = 0x80000001;
  startHinting(): number {
    this.commands.push('start');
    return this.nextId++;
  }
  stopHinting(): void {
    this.commands.push('stop');
  }
  doneHinting(): void {
    this.commands.push('done');
  }
}

const hint = (cmdId: number, firstPage: number, pages: number): HintBatch => ({ cmdId, ranges: [{ gpa: firstPage * PAGE_SIZE, length: pages * PAGE_SIZE }] });

function setUp(hinting = true) {
  const source = new FakeSource();
  const bitmap = new PageBitmap(64);
  bitmap.addRange(0, 64);
  const window = new HintWindow(source, bitmap, SAFE_PRECOPY_RULES, hinting, 64);
  window.begin();
  return { source, bitmap, window };
}

describe('the hint window', () => {
  it('clears bits only for the command id issued at the last sync, while the VM runs (I2)', () => {
    const { source, bitmap, window } = setUp();
    source.hints$.next(hint(0x80000001, 0, 4)); // before any sync: closed
    expect(bitmap.count).toBe(64);
    window.beforeSync(new Uint32Array(2));
    window.afterSync(true);
    expect(window.open).toBe(true);
    source.hints$.next(hint(0x80000001, 0, 4));
    source.hints$.next(hint(0x80000002, 8, 4)); // not this round's id
    expect(bitmap.count).toBe(60);
    expect([window.hintedPages, window.hintedRanges]).toEqual([4, 1]);
    window.beforeSync(new Uint32Array(2));
    expect(window.open).toBe(false);
    source.hints$.next(hint(0x80000001, 16, 4)); // the round has ended
    expect(bitmap.count).toBe(60);
    expect(source.commands).toEqual(['stop', 'start', 'stop']);
  });

  it('hints wait while the migration thread holds the bitmap, and go in when it lets go', () => {
    const { source, bitmap, window } = setUp();
    window.afterSync(true);
    window.lockBitmap();
    source.hints$.next(hint(0x80000001, 0, 8));
    expect(bitmap.count).toBe(64);
    window.unlockBitmap();
    expect(bitmap.count).toBe(56);
  });

  it('a page written after its hint is no longer hinted-clean', () => {
    const { source, window } = setUp();
    window.afterSync(true);
    source.hints$.next(hint(0x80000001, 0, 8));
    const dirty = new Uint32Array(2);
    dirty[0] = 0b100;
    window.beforeSync(dirty);
    expect(window.hintedClean.count).toBe(7);
    expect(window.hintedClean.has(2)).toBe(false);
  });

  it('DONE at the final sync and at the end; without the hint strategy only at the end (H5)', () => {
    const hinted = setUp();
    hinted.window.afterSync(false);
    hinted.window.end();
    expect(hinted.source.commands).toEqual(['done', 'done']);
    hinted.source.hints$.next(hint(0x80000001, 0, 8));
    expect(hinted.bitmap.count).toBe(64);
    const plain = setUp(false);
    plain.window.beforeSync(new Uint32Array(2));
    plain.window.afterSync(true);
    expect(plain.window.open).toBe(false);
    plain.window.end();
    expect(plain.source.commands).toEqual(['done']);
  });

  it('a migration that ends before it began still gives the guest its pages back (H5)', () => {
    const source = new FakeSource();
    const window = new HintWindow(source, new PageBitmap(64), SAFE_PRECOPY_RULES, true, 64);
    window.end();
    expect(source.commands).toEqual(['done']);
  });
});
