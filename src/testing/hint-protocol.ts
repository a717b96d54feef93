/** A model-based test of the free-page-hint protocol against an independent reference model. */
import fc from 'fast-check';
import { type DriverQueue, layoutRing } from '../guest/driver-queue.js';
import { MmioDriver } from '../guest/mmio-driver.js';
import { FlatMemory } from '../memory/flat-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { BalloonDevice, HintBatch } from '../virtio/balloon/balloon-device.js';
import { BalloonConfig, BalloonFeature } from '../virtio/balloon/constants.js';
import { Feature, featureBit } from '../virtio/constants.js';
import type { VirtioDevice } from '../virtio/device.js';
import { MmioTransport } from '../virtio/transport/mmio.js';
import { checkDeepEqual, checkEqual } from './check.js';

/**
 * A model-based test of the free-page-hint contract (virtio 1.2 §5.5.6.5, QEMU's device): a
 * reference model, written from the protocol rules and independently of freehint's device,
 * says which page ranges a device may publish and what the driver reads as the command id.
 * Host commands (start, stop, done), driver chains (current, stale and bogus ids, short
 * commands, ranges of any alignment), config reads and resets run against both.
 */

const PAGE = 4096;
const FIRST_ID = 0x80000001;
const RAM = 64 << 20;
const RING = layoutRing(0x10000, 32);
const CMD_AREA = 0x20000; // one 4-byte slot per descriptor
const HINT_BASE = 16 << 20; // hints land in [16 MiB, 48 MiB)

type State = 'stop' | 'requested' | 'start' | 'done';

interface Model {
  state: State;
  id: number;
  /** The device entered NEEDS_RESET; only a reset helps. */
  broken: boolean;
  /** Ids the scripted driver has seen, to send stale ones. */
  seen: number[];
}

interface Real {
  memory: FlatMemory;
  device: HintingDevice;
  driver: MmioDriver;
  queue: DriverQueue<number>;
  emitted: HintBatch[];
  nextSlot: number;
}

function expectedConfig(m: Model): number {
  return m.state === 'stop' ? 0 : m.state === 'done' ? 1 : m.id;
}

/** Whole pages inside [gpa, gpa + length), by enumeration. */
function pagesInside(gpa: number, length: number): number[] {
  const pages: number[] = [];
  for (let p = Math.floor(gpa / PAGE); p * PAGE < gpa + length; p++) {
    if (p * PAGE >= gpa && (p + 1) * PAGE <= gpa + length) pages.push(p);
  }
  return pages;
}

function emittedPages(batches: readonly HintBatch[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const b of batches) for (const r of b.ranges) for (let g = r.gpa; g < r.gpa + r.length; g += PAGE) out.push([b.cmdId, g / PAGE]);
  return out;
}

function setUp(r: Real): void {
  const features = r.driver.negotiate(featureBit(BalloonFeature.FREE_PAGE_HINT) | featureBit(Feature.EVENT_IDX));
  if (features === undefined) throw new Error('negotiation failed');
  // No stats queue negotiated: the free page queue is index 2 (Linux's compacted numbering).
  r.queue = r.driver.setupQueue<number>(2, RING, { eventIdx: true });
  r.driver.driverOk();
}

function newReal(makeDevice: (memory: GuestMemory) => HintingDevice): Real {
  const memory = new FlatMemory(RAM);
  const device = makeDevice(memory);
  const driver = new MmioDriver(new MmioTransport(device), memory);
  const real: Real = { memory, device, driver, queue: undefined as unknown as DriverQueue<number>, emitted: [], nextSlot: 0 };
  device.hints$.subscribe((b) => real.emitted.push(b));
  setUp(real);
  return real;
}

/** One chain, as the scripted driver builds it: an optional command, optional hint ranges. */
interface ChainSpec {
  /** Bytes of the out buffer (4 for a valid command). */
  command?: { value: number; bytes: number };
  hints: Array<{ gpa: number; length: number }>;
}

function submit(r: Real, chains: readonly ChainSpec[]): void {
  for (const c of chains) {
    const out = [];
    if (c.command) {
      const at = CMD_AREA + (r.nextSlot++ % 64) * 8;
      r.memory.writeU32(at, c.command.value);
      out.push({ gpa: at, length: c.command.bytes });
    }
    if (!r.queue.add(out, c.hints, 0)) throw new Error('ring full');
  }
  r.driver.kick(2, r.queue);
  r.queue.drainUsed();
}

/** Apply `chains` to the model; returns the pages that may (and must) be published. */
function modelSubmit(m: Model, chains: readonly ChainSpec[]): Array<[number, number]> {
  const expected: Array<[number, number]> = [];
  for (const c of chains) {
    if (m.broken) break;
    if (c.command) {
      if (c.command.bytes !== 4) {
        m.broken = true;
        break;
      }
      if (m.state === 'requested' && c.command.value === m.id) m.state = 'start';
      else if (m.state === 'start') m.state = 'stop';
    }
    if (m.state === 'start') for (const h of c.hints) for (const p of pagesInside(h.gpa, h.length)) expected.push([m.id, p]);
  }
  return expected;
}

type Cmd = fc.Command<Model, Real>;

/**
 * What the model drives: a virtio device (behind freehint's mmio transport) offering
 * FREE_PAGE_HINT, with the host side of free page hinting as BalloonDevice has it.
 */
export type HintingDevice = VirtioDevice & Pick<BalloonDevice, 'startHinting' | 'stopHinting' | 'doneHinting' | 'hintState' | 'hints$'>;

class HostStart implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = r.device.startHinting();
    if (m.broken) {
      checkEqual(id, undefined, 'a device in NEEDS_RESET issued a command id');
      return;
    }
    m.id = m.id === 0 ? FIRST_ID : m.id + 1;
    m.state = 'requested';
    m.seen.push(m.id);
    checkEqual(id, m.id, 'the host got another command id than the protocol issues');
  }
  toString = (): string => 'hostStart';
}

class HostStop implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.device.stopHinting();
    m.state = 'stop';
    checkEqual(r.device.hintState, 'stop', 'a host stop did not end the round');
  }
  toString = (): string => 'hostStop';
}

class HostDone implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.device.doneHinting();
    m.state = 'done';
    checkEqual(r.device.hintState, 'done', 'a host DONE did not take');
  }
  toString = (): string => 'hostDone';
}

/** A batch of chains made available before one kick. */
class DriverSubmit implements Cmd {
  constructor(readonly chains: ChainSpec[]) {}
  check = (m: Readonly<Model>): boolean => !m.broken;
  run(m: Model, r: Real): void {
    r.emitted = [];
    submit(r, this.chains);
    const expected = modelSubmit(m, this.chains);
    checkDeepEqual(emittedPages(r.emitted), expected, 'published hint pages differ from those the protocol allows');
    checkEqual(r.device.needsResetReason?.kind, m.broken ? 'bad-buffer' : undefined, 'the device is (or is not) in NEEDS_RESET against the protocol');
  }
  toString = (): string => `submit(${JSON.stringify(this.chains)})`;
}

class ConfigReread implements Cmd {
  check = (m: Readonly<Model>): boolean => !m.broken;
  run(m: Model, r: Real): void {
    checkEqual(r.driver.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID), expectedConfig(m), 'the driver reads another command id than the protocol says');
  }
  toString = (): string => 'configReread';
}

class Reset implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.emitted = [];
    setUp(r);
    m.state = 'stop';
    m.broken = false;
    checkEqual(r.device.hintState, 'stop', 'a reset did not stop hinting');
    checkDeepEqual(r.emitted, [], 'a reset published hints');
  }
  toString = (): string => 'reset';
}

/** Command values the scripted driver sends: the id it reads now, a stale one, STOP, DONE, any. */
const commandValue = fc.oneof(
  { weight: 4, arbitrary: fc.constant('current' as const) },
  { weight: 2, arbitrary: fc.constant('stale' as const) },
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(1) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

const hintRange = fc
  .record({ page: fc.integer({ min: 0, max: 8191 - 16 }), offset: fc.integer({ min: 0, max: PAGE - 1 }), length: fc.integer({ min: 0, max: 12 * PAGE }) })
  .map(({ page, offset, length }) => ({ gpa: HINT_BASE + page * PAGE + (offset < PAGE / 2 ? 0 : offset), length: offset < PAGE / 4 ? length - (length % PAGE) : length }));

const chainSpec = fc
  .record({
    command: fc.option(fc.record({ value: commandValue, bytes: fc.oneof({ weight: 20, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 5, 8) }) }), { nil: undefined, freq: 2 }),
    hints: fc.array(hintRange, { minLength: 0, maxLength: 3 }),
  })
  .filter((c) => c.command !== undefined || c.hints.length > 0);

/** Commands whose values depend on the model ('current', 'stale') are resolved when they run. */
class DriverSubmitLive implements Cmd {
  constructor(readonly specs: Array<{ command: { value: number | 'current' | 'stale'; bytes: number } | undefined; hints: ChainSpec['hints'] }>) {}
  check = (m: Readonly<Model>): boolean => !m.broken;
  run(m: Model, r: Real): void {
    const chains: ChainSpec[] = this.specs.map((s) => (s.command ? { command: { value: resolve(m, r, s.command.value), bytes: s.command.bytes }, hints: s.hints } : { hints: s.hints }));
    new DriverSubmit(chains).run(m, r);
  }
  toString = (): string => `submit(${JSON.stringify(this.specs)})`;
}

function resolve(m: Model, r: Real, v: number | 'current' | 'stale'): number {
  if (v === 'current') return r.driver.readConfig32(BalloonConfig.FREE_PAGE_HINT_CMD_ID);
  if (v === 'stale') return m.seen.length > 1 ? m.seen[m.seen.length - 2]! : FIRST_ID - 1;
  return v;
}

const commands = fc.commands(
  [
    fc.constant(new HostStart()),
    fc.constant(new HostStop()),
    fc.constant(new HostDone()),
    fc.constant(new ConfigReread()),
    fc.constant(new Reset()),
    fc.array(chainSpec, { minLength: 1, maxLength: 5 }).map((specs) => new DriverSubmitLive(specs.map((s) => ({ command: s.command, hints: s.hints })))),
  ],
  { maxCommands: 40 },
);

/**
 * The property: any sequence of host and driver commands keeps a device's published hints and
 * command id exactly as the model says. `makeDevice` builds the device under test over guest
 * memory (a BalloonDevice offering FREE_PAGE_HINT, or your own with the same interface).
 */
export function hintProtocolProperty(makeDevice: (memory: GuestMemory) => HintingDevice): fc.IProperty<[Iterable<Cmd>]> {
  return fc.property(commands, (cmds) => {
    const model: Model = { state: 'stop', id: 0, broken: false, seen: [] };
    fc.modelRun(() => ({ model, real: newReal(makeDevice) }), cmds);
  });
}
