import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { idle } from '../src/guest/workloads.js';
import { Vm } from '../src/sim/vm.js';
import { BalloonDevice, type BalloonOptions, type HintBatch } from '../src/virtio/balloon/balloon-device.js';
import { BalloonFeature } from '../src/virtio/balloon/constants.js';
import type { DescriptorChain } from '../src/virtio/descriptor-chain.js';
import { Feature } from '../src/virtio/constants.js';
import { READY_MARKER } from './boot-config.js';
import { buildAssets, type GuestAssets } from './build-assets.js';
import { GUEST_MEMORY, LinuxGuest } from './guest.js';

// Debian's own i386 kernel and its unmodified virtio_balloon driver against freehint's balloon,
// over freehint's virtio-pci transport, in v86: the checks every variant of the device passes.
// One boot serves every check of a variant.

/** The balloon the checks are written for. No DEFLATE_ON_OOM: with it Linux leaves MemTotal alone when it inflates. */
export const BALLOON: BalloonOptions = { statsQueue: true, freePageHint: true, pagePoison: true, pageReporting: true };
const HINT_BLOCK = 4 << 20;
const BOOT_MS = 300_000;

/** A chain on the free page queue, as the device saw it: out bytes (and the command), in buffers. */
interface TracedChain {
  readonly out: number;
  readonly command?: number;
  readonly inn: readonly number[];
}

/** Record every chain the device takes from the free page queue. */
function traceFreePageQueue(device: BalloonDevice, trace: TracedChain[]): void {
  const index = device.queueIndex('freePage');
  if (index === undefined) throw new Error('no free page queue');
  const queue = device.queues[index]!;
  const pop = queue.pop.bind(queue);
  queue.pop = (): DescriptorChain | undefined => {
    const chain = pop();
    if (chain) {
      const first = chain.readable[0];
      trace.push({ out: chain.readableLength, ...(first && chain.readableLength === 4 ? { command: device.memory.readU32(first.gpa) } : {}), inn: chain.writable.map((s) => s.length) });
    }
    return chain;
  };
}

/** A trace reduced to its shape: ID, a run of hint buffers (their size), STOP. */
function shape(trace: readonly TracedChain[]): string[] {
  const out: string[] = [];
  for (const c of trace) {
    const label = c.out === 4 ? (c.command === 0 ? 'STOP' : 'ID') : c.inn.length > 0 ? `HINT ${c.inn.join('+')}` : `OTHER ${c.out}/${c.inn.join('+')}`;
    if (out[out.length - 1] !== `${label}…` && out[out.length - 1] !== label) out.push(label);
    else out[out.length - 1] = label.startsWith('HINT') ? `${label}…` : label;
  }
  return out.map((l) => l.replace(/…$/, ''));
}

function kB(meminfo: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo);
  if (!match) throw new Error(`no ${field} in /proc/meminfo`);
  return Number(match[1]);
}

/**
 * The balloon checks against a device made with `options`, under the describe block `name`: the
 * driver binds and negotiates what is offered (the packed layout too, with `packedRing`), inflate
 * and deflate, stats, two free page hint rounds with DONE, and the free page queue's shape.
 */
export function describeBalloonChecks(name: string, options: BalloonOptions): void {
  let assets: GuestAssets;
  let guest: LinuxGuest<BalloonDevice>;
  let bootSeconds = 0;
  const figures: string[] = [];
  /** Guest errors the device met (each one puts it in NEEDS_RESET), since the last check. */
  const deviceErrors: string[] = [];

  beforeAll(async () => {
    assets = buildAssets((line) => console.log(line));
    guest = await LinuxGuest.start(assets, (memory) => new BalloonDevice(memory, options));
    guest.device.errors$.subscribe((error) => deviceErrors.push(error.message));
    await guest.until('the kernel to boot and /init to load the modules', () => guest.console.includes(READY_MARKER), BOOT_MS);
    bootSeconds = (performance.now() - guest.bootStarted) / 1000;
    figures.push(`boot to /init ready: ${bootSeconds.toFixed(1)} s`);
  }, BOOT_MS + 60_000);

  // A real driver never puts the device in NEEDS_RESET: if it did, the device is at fault (even
  // when the driver then reset it and the check passed).
  afterEach(() => {
    expect(deviceErrors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await guest?.stop();
    console.log(`Linux guest (${assets?.kernelVersion}), ${name}, figures:\n  ${figures.join('\n  ')}`);
  });

  const layout = options.packedRing === true ? 'packed' : 'split';
  describe(name, () => {
    it(`binds and negotiates free page hinting, the stats queue and ${layout} rings`, async () => {
      expect(guest.console).not.toContain('@@FH-INSMOD-FAILED');
      await guest.expectBound('virtio_balloon');
      const features = (await guest.run('cat /sys/bus/virtio/devices/virtio*/features')).output.trim();
      const bit = (n: number): boolean => features[n] === '1';
      expect(bit(BalloonFeature.FREE_PAGE_HINT)).toBe(true);
      expect(bit(BalloonFeature.STATS_VQ)).toBe(true);
      expect(bit(Feature.VERSION_1)).toBe(true);
      // The device agrees with the guest on every bit.
      for (let n = 0; n < 64; n++) expect(guest.device.hasNegotiated(n)).toBe(bit(n));
      // Linux keeps every ring feature a modern device offers: the packed layout when offered.
      expect(bit(Feature.RING_PACKED)).toBe(layout === 'packed');
      expect(guest.device.queues.map((q) => q.layout)).toEqual(guest.device.queues.map(() => layout));
      const ring = Object.entries(Feature).filter(([, n]) => n >= 28 && bit(n));
      figures.push(`guest features (sysfs): ${features}`);
      figures.push(
        `negotiated: ${[...Object.entries(BalloonFeature), ...ring]
          .filter(([, n]) => bit(n))
          .map(([feature]) => feature)
          .join(', ')}`,
      );
    });

    it('inflates and deflates: actual on the device, MemTotal in the guest', async () => {
      const total = async (): Promise<number> => kB((await guest.run('cat /proc/meminfo')).output, 'MemTotal');
      const before = await total();
      guest.device.setTarget(4096);
      await guest.until('actual to reach 4096 pages', () => guest.device.actual === 4096, 60_000);
      expect(guest.device.inflatedPages).toBe(4096);
      expect(before - (await total())).toBe(16384);
      guest.device.setTarget(1024);
      await guest.until('actual to fall to 1024 pages', () => guest.device.actual === 1024, 60_000);
      expect(before - (await total())).toBe(4096);
      guest.device.setTarget(0);
      await guest.until('actual to fall to 0', () => guest.device.actual === 0, 60_000);
      expect(await total()).toBe(before);
    });

    it("reports its memory statistics: the device sees the guest's MemFree", async () => {
      let got: number | undefined;
      const subscription = guest.device.stats$.subscribe((s) => (got = s.freeMemory ?? got));
      // The device can ask only while it holds the driver's stats buffer: ask until an answer came.
      for (let tries = 0; got === undefined && tries < 60; tries++) {
        guest.device.requestStats();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      subscription.unsubscribe();
      if (got === undefined) throw new Error('the driver never answered a stats request');
      const free = kB((await guest.run('cat /proc/meminfo')).output, 'MemFree') * 1024;
      expect(Math.abs(got! - free)).toBeLessThan(16 << 20);
    });

    it('runs free page hint rounds: 4 MiB blocks in RAM under the current id, STOP last, memory back after DONE', async () => {
      const memFree = async (): Promise<number> => kB((await guest.run('cat /proc/meminfo')).output, 'MemFree');
      // 48 MiB in a tmpfs file now, freed between the rounds, so the second round has fresh free memory to hint.
      expect((await guest.run('mkdir -p /mnt/t && mount -t tmpfs tmpfs /mnt/t && dd if=/dev/zero of=/mnt/t/f bs=1M count=48')).status).toBe(0);
      const freeBefore = await memFree();
      const batches: Array<HintBatch & { round: number }> = [];
      let round = 0;
      const subscription = guest.device.hints$.subscribe((b) => batches.push({ ...b, round }));
      const trace: TracedChain[] = [];
      traceFreePageQueue(guest.device, trace);
      const ids: number[] = [];
      const hinted: number[] = [];
      for (round = 1; round <= 2; round++) {
        const started = performance.now();
        const id = guest.device.startHinting()!;
        ids.push(id);
        // The round ends when the driver has sent its STOP.
        await guest.until(`hint round ${round} to end with the driver's STOP`, () => trace.some((c, i) => c.command === 0 && trace.slice(0, i).some((p) => p.command === id)), 120_000);
        const bytes = batches.filter((b) => b.round === round).reduce((n, b) => n + b.ranges.reduce((m, r) => m + r.length, 0), 0);
        hinted.push(bytes);
        figures.push(`hint round ${round}: ${(bytes / 2 ** 20).toFixed(0)} MiB hinted in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        if (round === 1) {
          guest.device.stopHinting();
          expect((await guest.run('rm /mnt/t/f')).status).toBe(0);
        }
      }
      const freeHeld = await memFree();
      guest.device.doneHinting();
      // The driver frees its blocks from a work item: give it a few reads to get there.
      let freeAfter = await memFree();
      for (let i = 0; i < 50 && freeAfter < freeBefore + 48 * 1024 - 8192; i++) freeAfter = await memFree();
      subscription.unsubscribe();

      expect(hinted.every((b) => b > 0)).toBe(true);
      for (const b of batches) {
        // Never a stale id: every range came under the id of the round it was sent in.
        expect(b.cmdId).toBe(ids[b.round - 1]);
        for (const r of b.ranges) {
          expect(r.gpa % 4096).toBe(0);
          expect(r.length).toBe(HINT_BLOCK);
          expect(r.gpa % HINT_BLOCK).toBe(0);
          expect(guest.memory.contains(r.gpa, r.length)).toBe(true);
          expect(r.gpa + r.length).toBeLessThanOrEqual(GUEST_MEMORY);
        }
      }
      // While the blocks were held MemFree was lower; after DONE the guest has them back (and the 48 MiB file's).
      expect(freeHeld).toBeLessThan(freeBefore + 48 * 1024 - hinted[0]! / 1024 / 2);
      expect(freeAfter).toBeGreaterThan(freeBefore + 48 * 1024 - 8192);

      // The protocol trace matches what freehint's simulated Linux driver does with the same device.
      const real = shape(trace);
      const simulated = shape(simulatedTrace(options));
      figures.push(`free page queue, real driver: ${real.join(' → ')}`);
      figures.push(`free page queue, simulated driver: ${simulated.join(' → ')}`);
      expect(real.slice(0, 3)).toEqual(['ID', `HINT ${HINT_BLOCK}`, 'STOP']);
      expect(simulated.slice(0, 3)).toEqual(real.slice(0, 3));
    });
  });
}

/** The free page queue trace of freehint's simulated Linux driver, one hint round, same device options. */
function simulatedTrace(options: BalloonOptions): TracedChain[] {
  const vm = new Vm({ ramBytes: GUEST_MEMORY, seed: 1, memory: 'compact', workload: idle(), balloon: options });
  if (!vm.boot()) throw new Error('the simulated driver did not probe');
  const trace: TracedChain[] = [];
  traceFreePageQueue(vm.device, trace);
  vm.device.startHinting();
  vm.settle(100_000);
  vm.device.stopHinting();
  return trace;
}
