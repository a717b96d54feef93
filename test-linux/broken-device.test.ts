import { afterAll, describe, expect, it } from 'vitest';
import { BalloonDevice } from '../src/virtio/balloon/balloon-device.js';
import { READY_MARKER } from './boot-config.js';
import { buildAssets } from './build-assets.js';
import { LinuxGuest } from './guest.js';

/** A device that refuses every feature set at FEATURES_OK: no driver can bind it. */
class RefusesFeatures extends BalloonDevice {
  protected override validateFeatures(): boolean {
    return false;
  }
}

let guest: LinuxGuest<BalloonDevice> | undefined;

afterAll(async () => {
  await guest?.stop();
});

describe('a device that breaks feature negotiation', () => {
  it('makes the Linux guest test fail with a clear message, not hang', async () => {
    guest = await LinuxGuest.start(buildAssets(), (memory) => new RefusesFeatures(memory, { statsQueue: true, freePageHint: true }));
    await guest.until('the kernel to boot and /init to load the modules', () => guest!.console.includes(READY_MARKER), 300_000);
    const started = performance.now();
    await expect(guest.expectBound('virtio_balloon')).rejects.toThrow(/virtio_balloon driver did not bind a device; the kernel said:[\s\S]*virtio/);
    expect(performance.now() - started).toBeLessThan(60_000);
  });
});
