/**
 * How the Linux guest boots in v86 and talks over its serial line: shared by the Node harness
 * (guest.ts) and the explorer's v86 page, so both boot the same guest the same way. No Node
 * imports here: the browser bundles this file.
 */

/** v86's `memory_size`: 256 MiB (about 227 MB MemTotal in the guest). */
export const GUEST_MEMORY = 256 << 20;

/** The console on the first serial port; /init from the initramfs; no TSC calibration surprises. */
export const KERNEL_CMDLINE = 'console=ttyS0 earlyprintk=serial,ttyS0 rdinit=/init panic=-1 tsc=reliable';

/** /init prints this once the virtio modules are loaded and its command loop reads the serial line. */
export const READY_MARKER = '@@FH-READY';

/** /init's line after the n-th command's output: only the loop prints it, never an echo. */
export const commandEnd = (n: number): RegExp => new RegExp(`^@@FH-END-${n} (\\d+)\\r?$`, 'm');
