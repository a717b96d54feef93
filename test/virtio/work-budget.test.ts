import { describe, expect, it } from 'vitest';
import { layoutRing } from '../../src/guest/driver-queue.js';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { ECHO_CHAIN_LIMITS, EchoDevice } from '../../src/testing/echo-device.js';
import { WORK_BUDGET } from '../../src/virtio/constants.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';

// The budget of one action, counted exactly: a chain starts only while its worst case fits
// what is left, the first one always does, and each is charged what it really cost.

const Q = 4096;

function echo(chains: number, segments: 1 | 2): { device: EchoDevice; mmio: MmioTransport; usedIdx: () => number } {
  const memory = new FlatMemory(4 << 20);
  const device = new EchoDevice(memory, Q);
  const mmio = new MmioTransport(device);
  const driver = new MmioDriver(mmio, memory);
  driver.negotiate(0n);
  const queue = driver.setupQueue<number>(0, layoutRing(0x10000, Q));
  driver.driverOk();
  // 64 bytes out, or 32 out and 32 in: the walk, then a page read and one written, each maybe two.
  for (let i = 0; i < chains; i++) {
    if (segments === 1) queue.add([{ gpa: 0x200000, length: 64 }], [], i);
    else queue.add([{ gpa: 0x200000, length: 32 }], [{ gpa: 0x300000, length: 32 }], i);
  }
  return { device, mmio, usedIdx: () => memory.readU16(queue.layout.usedRing + 2) };
}

/** Chains one action serves when each really costs `actual` and may cost `cost`. */
function fits(actual: number, cost: number): number {
  let served = 1;
  while (served * actual + cost <= WORK_BUDGET) served++;
  return served;
}

describe('the work budget of one action', () => {
  it('serves chains while their worst case fits, charging each its walk and its pages', () => {
    // One buffer: 2 descriptor units, 2 pages read, 2 written (a page may straddle two).
    const one = echo(Q, 1);
    one.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(one.usedIdx()).toBe(fits(6, ECHO_CHAIN_LIMITS.cost));
    expect(one.device.hasDeferredWork).toBe(true);
    // A buffer each way: one descriptor unit more; 7n + 37 reaches the budget exactly at
    // n = 1165, where one more chain still fits.
    const two = echo(Q, 2);
    two.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(two.usedIdx()).toBe(fits(7, ECHO_CHAIN_LIMITS.cost));
    expect((WORK_BUDGET - ECHO_CHAIN_LIMITS.cost) % 7).toBe(0);
  });

  it('starts every action afresh: the next kick and each serveDeferred() serve as much again', () => {
    const s = echo(Q, 1);
    const per = fits(6, ECHO_CHAIN_LIMITS.cost);
    s.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    s.mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(s.usedIdx()).toBe(2 * per);
    expect(s.device.serveDeferred()).toBe(true);
    expect(s.usedIdx()).toBe(3 * per);
    while (s.device.serveDeferred());
    expect(s.usedIdx()).toBe(Q);
    expect(s.device.hasDeferredWork).toBe(false);
  });

  it('serves what a kick left before DRIVER_OK within one budget at DRIVER_OK', () => {
    const memory = new FlatMemory(4 << 20);
    const device = new EchoDevice(memory, Q);
    const mmio = new MmioTransport(device);
    const driver = new MmioDriver(mmio, memory);
    driver.negotiate(0n);
    const queue = driver.setupQueue<number>(0, layoutRing(0x10000, Q));
    for (let i = 0; i < Q; i++) queue.add([{ gpa: 0x200000, length: 64 }], [], i);
    mmio.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    expect(device.hasDeferredWork).toBe(false); // not live yet
    driver.driverOk();
    expect(memory.readU16(queue.layout.usedRing + 2)).toBe(fits(6, ECHO_CHAIN_LIMITS.cost));
    expect(device.hasDeferredWork).toBe(true);
  });
});
