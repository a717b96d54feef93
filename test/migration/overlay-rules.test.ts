import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { OVERLAY_KINDS, OverlayManager, overlayContent, type Overlay, type OverlayKind } from '../../src/migration/overlay.js';

const words = (bytes: Uint8Array): Uint32Array => new Uint32Array(bytes.buffer, bytes.byteOffset, PAGE_SIZE / 4);
/** Words 20 and on: the body derived from kind, pfn and parameters. */
const body = (o: Overlay, pfn: number): number[] => [...words(overlayContent(o, pfn)).subarray(20)];

describe('overlay contents', () => {
  it('a header names the overlay: magic, kind, pfn, then the parameters (16 slots, wrapping)', () => {
    const params = Array.from({ length: 17 }, (_, i) => 100 + i);
    const w = words(overlayContent({ kind: 'tsc-reference', params }, 0x12345));
    expect(w[0]).toBe(0x4f56524c);
    expect(w[1]).toBe(OVERLAY_KINDS.indexOf('tsc-reference'));
    expect(w[2]).toBe(0x12345);
    // The 17th parameter takes the first slot again; word 19 is never a parameter slot.
    expect([...w.subarray(3, 19)]).toEqual([116, ...params.slice(1, 16)]);
    expect(w[19]).toBe(0);
  });

  it('the body depends on the kind, the pfn and every parameter, and has no zero word', () => {
    const base: Overlay = { kind: 'synic-event', params: [1, 2, 3] };
    const reference = body(base, 7);
    expect(reference.every((x) => x !== 0)).toBe(true);
    expect(body(base, 7)).toEqual(reference); // derived, so the same every time
    for (const kind of OVERLAY_KINDS.slice(1)) expect(body({ ...base, kind }, 7)).not.toEqual(reference);
    expect(body(base, 8)).not.toEqual(reference);
    for (let i = 0; i < 3; i++) {
      const params = [...base.params];
      params[i]! += 1;
      expect(body({ ...base, params }, 7)).not.toEqual(reference);
    }
    // Parameters that cancel out in the header still change the body.
    expect(body({ kind: 'hypercall', params: [0] }, 0)).not.toEqual(body({ kind: 'hypercall', params: [] }, 0));
    expect(body({ kind: 'hypercall', params: [0] }, 0).every((x) => x !== 0)).toBe(true);
  });
});

describe('the overlay manager', () => {
  function setUp() {
    const memory = new FlatMemory(16 * PAGE_SIZE);
    memory.fill(3 * PAGE_SIZE, PAGE_SIZE, 0x42);
    return { memory, m: new OverlayManager(memory) };
  }
  const read = (memory: FlatMemory, pfn: number) => memory.read(pfn * PAGE_SIZE, PAGE_SIZE);

  it('refuses a page that is not RAM, by number', () => {
    const { m } = setUp();
    expect(() => m.add(16, { kind: 'hypercall', params: [] })).toThrow(new RangeError('overlay page 16 is not RAM'));
    expect(m.pfns()).toEqual([]);
  });

  it('lists overlaid pages in ascending order, and knows which pages it has', () => {
    const { m } = setUp();
    for (const pfn of [9, 2, 10, 5]) m.add(pfn, { kind: 'synic-message', params: [pfn] });
    expect(m.pfns()).toEqual([2, 5, 9, 10]);
    expect(m.has(9)).toBe(true);
    expect(m.has(3)).toBe(false);
  });

  it('removing from a page without overlays changes nothing', () => {
    const { memory, m } = setUp();
    m.remove(3, 'hypercall');
    expect(read(memory, 3).every((b) => b === 0x42)).toBe(true);
    expect(m.active(3)).toBeUndefined();
    expect(m.pfns()).toEqual([]);
  });

  it('the active overlay is the highest kind present', () => {
    const { m } = setUp();
    const kinds: OverlayKind[] = ['hypercall', 'synic-event', 'tsc-reference'];
    for (const kind of kinds) m.add(4, { kind, params: [] });
    expect(m.active(4)?.kind).toBe('hypercall');
    m.remove(4, 'hypercall');
    expect(m.active(4)?.kind).toBe('tsc-reference');
  });

  it('saves originals as zero or as base64 bytes, and restores them before the overlays', () => {
    const { memory, m } = setUp();
    m.add(2, { kind: 'hypercall', params: [5] });
    m.add(3, { kind: 'synic-event', params: [] });
    const saved = m.save(true);
    expect(saved).toEqual([
      { pfn: 2, overlays: [{ kind: 'hypercall', params: [5] }], original: 'zero' },
      { pfn: 3, overlays: [{ kind: 'synic-event', params: [] }], original: Buffer.from(new Uint8Array(PAGE_SIZE).fill(0x42)).toString('base64') },
    ]);
    expect(m.save(false).every((s) => !('original' in s))).toBe(true);

    // A destination whose pages hold something else: restore writes the originals first.
    const there = new FlatMemory(16 * PAGE_SIZE);
    there.fill(0, 16 * PAGE_SIZE, 0x77);
    const restored = new OverlayManager(there);
    restored.restore(saved);
    expect(Buffer.compare(read(there, 2), read(memory, 2))).toBe(0);
    restored.removeAll();
    expect(read(there, 2).every((b) => b === 0)).toBe(true);
    expect(read(there, 3).every((b) => b === 0x42)).toBe(true);
  });

  it('restore rejects an unknown kind by name', () => {
    const { m } = setUp();
    const bogus = [{ pfn: 1, overlays: [{ kind: 'vmbus' as OverlayKind, params: [] }] }];
    expect(() => m.restore(bogus)).toThrow(new RangeError('unknown overlay kind vmbus'));
  });
});
