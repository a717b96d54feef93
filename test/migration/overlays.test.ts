import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { OVERLAY_KINDS, OverlayManager, overlayContent, type Overlay, type OverlayMode } from '../../src/migration/overlay.js';
import { SAFE_PRECOPY_RULES, type PrecopySafetyRules } from '../../src/migration/safety-rules.js';
import { migrate } from '../../src/sim/migrate.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination } from './support.js';

const overlay: fc.Arbitrary<Overlay> = fc.record({ kind: fc.constantFrom(...OVERLAY_KINDS), params: fc.array(fc.nat(), { maxLength: 3 }) });

describe('the overlay manager', () => {
  it('shows the highest-priority overlay, promotes the next on removal, restores the original last', () => {
    fc.assert(
      fc.property(fc.array(overlay, { minLength: 1, maxLength: 6 }), fc.array(fc.constantFrom(...OVERLAY_KINDS), { maxLength: 6 }), fc.boolean(), (adds, removes, zeroOriginal) => {
        const memory = new FlatMemory(4 * PAGE_SIZE);
        if (!zeroOriginal) memory.fill(PAGE_SIZE, PAGE_SIZE, 0x42);
        const original = memory.read(PAGE_SIZE, PAGE_SIZE);
        const m = new OverlayManager(memory);
        const present = new Map<string, Overlay>();
        for (const o of adds) {
          m.add(1, o);
          present.set(o.kind, o);
        }
        for (const k of removes) {
          m.remove(1, k);
          present.delete(k);
        }
        // The model: the present kind that comes last in the fixed order wins.
        const winner = [...OVERLAY_KINDS].reverse().find((k) => present.has(k));
        const expected = winner ? overlayContent(present.get(winner)!, 1) : original;
        expect(Buffer.compare(memory.read(PAGE_SIZE, PAGE_SIZE), expected)).toBe(0);
        m.removeAll();
        expect(Buffer.compare(memory.read(PAGE_SIZE, PAGE_SIZE), original)).toBe(0);
        expect(m.pfns()).toEqual([]);
      }),
      { numRuns: runs(200) },
    );
  });
});

interface Scenario {
  seed: number;
  mode: OverlayMode;
  strategies: string;
  overlays: Array<{ page: number; overlay: Overlay }>;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 20 }),
  mode: fc.constantFrom<OverlayMode>('drop-at-pause', 'ship-originals'),
  strategies: fc.constantFrom('zero', 'zero+hint', 'none', 'zero+zero-skip'),
  // Pages the kernel keeps for itself (the first MiB and its image, 16 to 32 MiB), which the
  // guest wrote at boot and only reads afterwards; page 0 and some others are zero, the rest hold data.
  overlays: fc.array(fc.record({ page: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 4096, max: 8191 })), overlay }), { minLength: 1, maxLength: 8 }),
});

/** I4: after switchover the destination shows the same overlays and holds the same originals. */
function overlaysArrive(rules: PrecopySafetyRules = SAFE_PRECOPY_RULES) {
  return fc.property(scenario, (s) => {
    const vm = busyGuest(s.seed);
    // Some overlaid pages hold zeros (the zero variant of the originals).
    vm.kernel.zeroPage(7);
    for (const { page, overlay: o } of s.overlays) vm.overlays.add(page === 1 ? 7 : page, o);
    const expected = vm.overlays.save(true);
    const destination = freshDestination(s.seed);
    const m = migrate(vm, destination, { strategies: s.strategies, overlayMode: s.mode, rules });
    expect(m.error, 'the migration failed').toBeUndefined();
    vm.switchOver(destination.memory, m.received!.devices);
    for (const page of expected) {
      const active = vm.overlays.active(page.pfn);
      const want = [...OVERLAY_KINDS]
        .reverse()
        .map((k) => page.overlays.find((o) => o.kind === k))
        .find((o) => o !== undefined);
      expect(active, 'the active overlay at the destination').toEqual(want);
      expect(Buffer.compare(vm.memory.read(page.pfn * PAGE_SIZE, PAGE_SIZE), overlayContent(want!, page.pfn)), 'an overlaid page shows other bytes than its overlay').toBe(0);
    }
    vm.overlays.removeAll();
    for (const page of expected) {
      const original = page.original === 'zero' ? new Uint8Array(PAGE_SIZE) : Buffer.from(page.original!, 'base64');
      expect(Buffer.compare(vm.memory.read(page.pfn * PAGE_SIZE, PAGE_SIZE), original), 'an original page differs once its overlays are removed').toBe(0);
    }
    // With the overlays gone the guest sees its own pages again: all intact.
    vm.resume();
    vm.run(5);
    expect(vm.kernel.verify(), 'pages the guest finds damaged').toEqual([]);
  });
}

describe('I4: overlays migrate as parameters', () => {
  it('the destination rebuilds identical guest-visible memory in both modes', () => {
    fc.assert(overlaysArrive(), { numRuns: runs(30) });
  });

  it('catches drop-at-pause that does not drop the overlays before the final round', () => {
    const keep: PrecopySafetyRules = { ...SAFE_PRECOPY_RULES, dropOverlays: () => undefined };
    const result = fc.check(overlaysArrive(keep), { numRuns: 30, seed: 9, examples: [[{ seed: 2, mode: 'drop-at-pause', strategies: 'zero', overlays: [{ page: 100, overlay: { kind: 'hypercall', params: [] } }] }]] });
    expect(result.failed).toBe(true);
    // The originals travelled as they were under the overlay: removing it leaves the wrong bytes.
    expect(String(result.errorInstance)).toMatch(/an original page differs once its overlays are removed/);
  });
});
