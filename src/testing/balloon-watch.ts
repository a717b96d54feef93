/** A watch on a balloon under fuzzing: hints published only in START, aligned and in RAM. */
import type { BalloonDevice } from '../virtio/balloon/balloon-device.js';
import { PAGE_SIZE } from '../memory/guest-memory.js';

/**
 * Watch a balloon under fuzzing: every hint must be published in START, page aligned and in
 * RAM. With `keepRoundOpen`, a new hint round is requested whenever the driver is live and no
 * round runs, so that a hostile driver's buffers meet every hint state.
 */
export function watchBalloon(device: BalloonDevice, violations: string[], keepRoundOpen = true): void {
  device.hints$.subscribe((batch) => {
    if (device.hintState !== 'start') violations.push(`hint published in ${device.hintState}`);
    for (const r of batch.ranges) {
      if (r.gpa % PAGE_SIZE !== 0 || r.length % PAGE_SIZE !== 0 || !device.memory.contains(r.gpa, r.length)) {
        violations.push(`bad hint range 0x${r.gpa.toString(16)}+${r.length}`);
      }
    }
  });
  if (!keepRoundOpen) return;
  device.irqLevel$.subscribe(() => {
    if (device.isLive && device.hintState === 'stop') device.startHinting();
  });
}
