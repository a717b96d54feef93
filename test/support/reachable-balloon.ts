import fc from 'fast-check';
import { layoutRing, type DriverQueue } from '../../src/guest/driver-queue.js';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { registerScript, type RegisterAccess } from '../../src/testing/register-script.js';
import { BalloonDevice, balloonQueueRoles, type BalloonOptions } from '../../src/virtio/balloon/balloon-device.js';
import { BalloonConfig } from '../../src/virtio/balloon/constants.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';

// Balloon devices in states they can reach: a driver negotiates some features, sets some
// queues up, maybe goes live, sends buffers of every kind while the host asks for things,
// then a hostile script of register accesses. What such a session leaves is reachable by
// construction, so a restore must accept its saved state.

/** Every feature the balloon can offer. */
export const ALL_BALLOON: BalloonOptions = { statsQueue: true, freePageHint: true, pageReporting: true, pagePoison: true, deflateOnOom: true, mustTellHost: true };
export const RAM = 4 << 20;
const RING_BASE = 0x10000;
const BUF = 0x100000;

type Step =
  | { kind: 'pfns'; role: 'inflate' | 'deflate'; pfns: number[] }
  | { kind: 'stats'; tags: number }
  | { kind: 'command'; current: boolean }
  | { kind: 'round'; pages: number }
  | { kind: 'hint'; pages: number }
  | { kind: 'report'; pages: number }
  | { kind: 'host'; op: 'target' | 'start' | 'stop' | 'done' | 'requestStats'; value: number }
  | { kind: 'disable'; queue: number }
  | { kind: 'actual'; value: number };

export interface Session {
  /** Device-specific feature bits the driver accepts (of those offered), and ring features. */
  readonly accept: bigint;
  /** Queue indices the driver sets up (of those its features make). */
  readonly queues: readonly number[];
  readonly poison: number | undefined;
  readonly live: boolean;
  readonly steps: readonly Step[];
  readonly script: readonly RegisterAccess[];
}

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('pfns' as const), role: fc.constantFrom('inflate' as const, 'deflate' as const), pfns: fc.array(fc.oneof(fc.integer({ min: 0x200, max: 0x3ff }), fc.nat()), { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('stats' as const), tags: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('command' as const), current: fc.boolean() }),
  fc.record({ kind: fc.constant('hint' as const), pages: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('round' as const), pages: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('report' as const), pages: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('host' as const), op: fc.constantFrom('target' as const, 'start' as const, 'stop' as const, 'done' as const, 'requestStats' as const), value: fc.nat(1000) }),
  fc.record({ kind: fc.constant('disable' as const), queue: fc.nat(4) }),
  fc.record({ kind: fc.constant('actual' as const), value: fc.nat() }),
);

// Mostly a driver that takes every feature, sets every queue up and goes live, so that held
// buffers, inflated pages and hint rounds are common; sometimes anything.
export const session: fc.Arbitrary<Session> = fc.record({
  accept: fc
    .oneof(fc.constant(0x3fn), fc.bigInt({ min: 0n, max: 0x3fn }))
    .chain((bits) => fc.constantFrom(0n, featureBit(Feature.EVENT_IDX), featureBit(Feature.INDIRECT_DESC), featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC)).map((ring) => bits | ring)),
  queues: fc.oneof(fc.constant([0, 1, 2, 3, 4]), fc.uniqueArray(fc.nat(4), { maxLength: 5 })),
  poison: fc.option(fc.nat(), { nil: undefined }),
  live: fc.oneof(fc.constant(true), fc.boolean()),
  steps: fc.array(step, { maxLength: 12 }),
  script: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: registerScript(RING_BASE) }),
});

export interface Reached {
  readonly memory: GuestMemory;
  readonly device: BalloonDevice;
  readonly mmio: MmioTransport;
}

/** Run `s` on a fresh balloon offering every feature (or `makeDevice`'s). */
export function reach(s: Session, makeDevice: (memory: GuestMemory) => BalloonDevice = (m) => new BalloonDevice(m, ALL_BALLOON)): Reached {
  const memory = new FlatMemory(RAM);
  const device = makeDevice(memory);
  const mmio = new MmioTransport(device);
  const driver = new MmioDriver(mmio, memory);
  const accepted = driver.negotiate((offered) => offered & (s.accept | featureBit(Feature.VERSION_1)));
  const roles = balloonQueueRoles(accepted ?? 0n);
  const queues = new Map<number, DriverQueue<number>>();
  for (const i of s.queues) {
    if (accepted === undefined || i >= roles.length) continue;
    queues.set(i, driver.setupQueue<number>(i, layoutRing(RING_BASE + i * 0x1000, 16), { eventIdx: (accepted & featureBit(Feature.EVENT_IDX)) !== 0n }));
  }
  if (s.poison !== undefined && device.configSize === 16) driver.writeConfig32(BalloonConfig.POISON_VAL, s.poison);
  if (s.live && accepted !== undefined) driver.driverOk();
  let slot = 0;
  const send = (role: string, out: Array<{ gpa: number; length: number }>, inn: Array<{ gpa: number; length: number }>): void => {
    const i = roles.indexOf(role as (typeof roles)[number]);
    const q = queues.get(i);
    if (q === undefined || !q.add(out, inn, slot++)) return;
    driver.kick(i, q);
    q.drainUsed();
  };
  for (const st of s.steps) {
    const at = BUF + (slot % 64) * 0x800;
    switch (st.kind) {
      case 'pfns':
        st.pfns.forEach((p, k) => memory.writeU32(at + 4 * k, p));
        if (st.pfns.length > 0) send(st.role, [{ gpa: at, length: 4 * st.pfns.length }], []);
        break;
      case 'stats':
        for (let k = 0; k < st.tags; k++) memory.writeU16(at + 10 * k, k);
        send('stats', [{ gpa: at, length: 10 * st.tags }], []);
        break;
      case 'command':
        memory.writeU32(at, st.current ? device.hintCmdId : 0);
        send('freePage', [{ gpa: at, length: 4 }], []);
        break;
      case 'round':
        // The host asks for a round, the driver starts it with the id and hints.
        device.startHinting();
        memory.writeU32(at, device.hintCmdId);
        send('freePage', [{ gpa: at, length: 4 }], []);
        send('freePage', [], [{ gpa: 0x200000, length: st.pages * 4096 }]);
        break;
      case 'hint':
        send('freePage', [], [{ gpa: 0x200000, length: st.pages * 4096 }]);
        break;
      case 'report':
        send('reporting', [], [{ gpa: 0x300000, length: st.pages * 4096 }]);
        break;
      case 'host':
        if (st.op === 'target') device.setTarget(st.value);
        else if (st.op === 'start') device.startHinting();
        else if (st.op === 'stop') device.stopHinting();
        else if (st.op === 'done') device.doneHinting();
        else device.requestStats();
        break;
      case 'disable':
        mmio.write(MmioReg.QUEUE_SEL, 4, st.queue);
        mmio.write(MmioReg.QUEUE_READY, 4, 0);
        break;
      case 'actual':
        driver.writeConfig32(BalloonConfig.ACTUAL, st.value);
        break;
    }
  }
  for (const a of s.script) {
    if (a.kind === 'kick') mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    else if (a.kind === 'read') mmio.read(a.offset, a.size);
    else mmio.write(a.offset, a.size, a.value);
  }
  return { memory, device, mmio };
}
