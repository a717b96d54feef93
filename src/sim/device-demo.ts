import { layoutRing } from '../guest/driver-queue.js';
import { MmioDriver } from '../guest/mmio-driver.js';
import { FlatMemory } from '../memory/flat-memory.js';
import { EchoDevice } from '../testing/echo-device.js';
import { Feature, featureBit } from '../virtio/constants.js';
import { MmioTransport } from '../virtio/transport/mmio.js';

/** Drive an echo device over virtio-mmio the way a guest would, and say what happened. */
export function runDeviceDemo(): string[] {
  const lines: string[] = [];
  const memory = new FlatMemory(1 << 20);
  const device = new EchoDevice(memory, 64, featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC));
  const transport = new MmioTransport(device);
  let interrupts = 0;
  device.interrupt$.subscribe(() => interrupts++);

  const driver = new MmioDriver(transport, memory);
  const found = driver.probe();
  lines.push(`probe: device id ${found?.deviceId}, vendor 0x${found?.vendorId.toString(16)}`);
  const features = driver.negotiate(featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC));
  lines.push(`features negotiated: 0x${features?.toString(16)}`);
  const queue = driver.setupQueue<string>(0, layoutRing(0x1000, 64), {
    eventIdx: true,
    indirect: { area: 0x8000, maxSegments: 4 },
  });
  driver.driverOk();
  lines.push(`status: 0x${driver.status.toString(16)} (ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK)`);

  const messages = ['hello', 'virtio', 'split ring'];
  messages.forEach((text, i) => {
    const out = 0x20000 + i * 0x100;
    memory.write(out, new TextEncoder().encode(text));
    queue.add([{ gpa: out, length: text.length }], [{ gpa: out + 0x80, length: 0x80 }], text);
  });
  driver.kick(0, queue);
  driver.takeInterrupts();
  for (const used of queue.drainUsed()) {
    const i = messages.indexOf(used.token);
    const echoed = new TextDecoder().decode(memory.read(0x20000 + i * 0x100 + 0x80, used.len));
    lines.push(`used: "${used.token}" came back as "${echoed}" (${used.len} bytes)`);
  }
  lines.push(`interrupts raised: ${interrupts}; device needs reset: ${device.needsResetReason?.kind ?? 'no'}`);
  return lines;
}
