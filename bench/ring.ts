import { layoutRing, type DriverQueue } from '../src/guest/driver-queue.js';
import { MmioDriver } from '../src/guest/mmio-driver.js';
import { FlatMemory } from '../src/memory/flat-memory.js';
import { EchoDevice } from '../src/testing/echo-device.js';
import { Feature, featureBit } from '../src/virtio/constants.js';
import { SplitQueue } from '../src/virtio/split-queue.js';
import { MmioTransport } from '../src/virtio/transport/mmio.js';
import { opsPerSecond, type Benchmark } from './harness.js';

const Q = 256;

/** Chains served per second, end to end: driver add, one kick per full ring, echo, drain. */
function endToEnd(segments: 1 | 4, ms: number): number {
  const memory = new FlatMemory(4 << 20);
  const device = new EchoDevice(memory, Q, featureBit(Feature.EVENT_IDX));
  const transport = new MmioTransport(device);
  const driver = new MmioDriver(transport, memory);
  driver.negotiate(featureBit(Feature.EVENT_IDX));
  const queue: DriverQueue<number> = driver.setupQueue(0, layoutRing(0x1000, Q), { eventIdx: true });
  driver.driverOk();
  const data = 0x100000;
  memory.fill(data, 64 * 1024, 7);
  const out =
    segments === 1
      ? [{ gpa: data, length: 64 }]
      : [
          { gpa: data, length: 32 },
          { gpa: data + 32, length: 32 },
        ];
  const inn =
    segments === 1
      ? []
      : [
          { gpa: data + 4096, length: 32 },
          { gpa: data + 4128, length: 32 },
        ];
  const perRing = Math.floor(Q / segments);
  return opsPerSecond(
    () => {
      for (let i = 0; i < perRing; i++) queue.add(out, inn, i);
      driver.kick(0, queue);
      queue.drainUsed();
    },
    perRing,
    ms,
  );
}

/** The device side alone: pop and push on a ring the driver filled once and never changes. */
function deviceOnly(ms: number): number {
  const memory = new FlatMemory(4 << 20);
  const layout = layoutRing(0x1000, Q);
  const q = new SplitQueue(memory, Q);
  Object.assign(q, { descTable: layout.descTable, availRing: layout.availRing, usedRing: layout.usedRing, ready: true });
  q.activate({ eventIdx: false, indirect: false });
  for (let i = 0; i < Q; i++) {
    memory.writeU64(layout.descTable + 16 * i, 0x100000);
    memory.writeU32(layout.descTable + 16 * i + 8, 64);
    memory.writeU16(layout.availRing + 4 + 2 * i, i);
  }
  let avail = 0;
  return opsPerSecond(
    () => {
      avail = (avail + Q) & 0xffff;
      memory.writeU16(layout.availRing + 2, avail);
      for (let c = q.pop(); c !== undefined; c = q.pop()) q.push(c.head, 0);
    },
    Q,
    ms,
  );
}

export const ring: Benchmark = {
  name: 'ring',
  figures({ quick }) {
    const ms = quick ? 100 : 1000;
    const one = endToEnd(1, ms);
    const four = endToEnd(4, ms);
    const device = deviceOnly(ms);
    return [
      { name: 'split ring, 1-segment chains (driver → mmio kick → echo → drain)', value: one, unit: 'chains/s' },
      { name: 'split ring, 4-segment chains (2 out + 2 in)', value: four, unit: 'chains/s', note: `${(four / one).toFixed(2)}× the 1-segment rate` },
      { name: 'split ring, device side only (pop + push)', value: device, unit: 'chains/s', note: `${(device / one).toFixed(2)}× end to end` },
    ];
  },
};
