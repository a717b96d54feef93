/**
 * Host profiles: the physical figures of the machine a migration runs on, one set per host,
 * each with where it comes from. The migration thread's costs go to the engine's cost model;
 * what a guest vCPU gets done goes to the guest (the balloon driver pays for its hints in it).
 */
import type { GuestCpuCosts } from '../guest/balloon-driver.js';
import type { CostModel } from '../migration/cost-model.js';

/** A host the model was measured on: its cost model, the guest's CPU costs, and where each figure comes from. */
export interface HostProfile {
  readonly name: HostName;
  readonly description: string;
  /** Host CPU cores the guest's vCPUs and QEMU's threads share. */
  readonly cores: number;
  /** The migration thread: channel, scan rate and sync costs (QEMU's max-bandwidth is the scenario's). */
  readonly migration: Omit<CostModel, 'maxBandwidth'>;
  /** What one vCPU of a guest gets done on this host. */
  readonly guest: GuestCpuCosts;
  /** Where each figure comes from, by name (shown in the README's table). */
  readonly sources: Readonly<Record<string, string>>;
}

/** The host profiles a scenario may name. */
export const HOST_NAMES = ['kvm-xeon-2018', 'tcg-2core'] as const;
/** A host profile's name. */
export type HostName = (typeof HOST_NAMES)[number];

const GB = 1e9;

/**
 * The host of the published free page hint runs (v34 and v37 cover letters): a Xeon E5-2699 v4
 * (Broadwell-EP, 22 cores at 2.2 GHz) running KVM and a 2018 QEMU.
 */
export const KVM_XEON_2018: HostProfile = {
  name: 'kvm-xeon-2018',
  description: 'Xeon E5-2699 v4 (22 cores, 2.2 GHz) with KVM: the host of the published free page hint runs',
  cores: 22,
  migration: { bandwidth: 1.5 * GB, scanRate: 5.5 * GB, syncFixedMs: 0.05, syncPerGiBMs: 0.2, bitmapLock: 'per-page', sinkThreads: 0 },
  guest: { zeroBytesPerSec: 10 * GB, hintBlockUs: 5, firstTouchUsPerPage: 1 },
  sources: {
    bandwidth: "1.5 GB/s: one migration thread copying into a socket (QEMU's single channel moves 10–15 Gbit/s; the runs set no cap)",
    scanRate: '5.5 GB/s: 0.75 µs per page the thread looks at (bitmap walk, buffer_is_zero, record) at 2.2 GHz',
    sync: 'KVM_GET_DIRTY_LOG round trip 0.05 ms, plus walking and clearing 32 KiB of bitmap per GiB (0.2 ms)',
    zeroBytesPerSec: "10 GB/s: one Broadwell core's store bandwidth (clear_page with rep stosb), as single-thread STREAM measures it",
    hintBlockUs: '5 µs: taking a block off an order-10 free list (about 1 µs) and a virtio-pci notify, one trapped write: a KVM exit to the ioeventfd and back (about 4 µs)',
    firstTouchUsPerPage: "1 µs: an EPT violation and the host's fault that maps a zeroed page (the published guests ran without init_on_alloc, so nothing pays it)",
  },
};

/**
 * A small host running the guest under QEMU 7.2's TCG (no KVM), migrating to a file through a
 * pipe: two cores, the vCPU emulated. The figures were measured on such a machine by
 * `npm run calibrate:host` (calibration/host-tcg-2core.json), with experiments of their own,
 * none of them a row of the reference table the model is checked against.
 */
export const TCG_2CORE: HostProfile = {
  name: 'tcg-2core',
  description: 'a 2-core host emulating the guest with QEMU 7.2 TCG (no KVM), migrating to a file',
  cores: 2,
  migration: { bandwidth: 1.76 * GB, scanRate: 19.9 * GB, syncFixedMs: 0.05, syncPerGiBMs: 0.02, bitmapLock: 'per-iteration', sinkThreads: 0.3 },
  guest: { zeroBytesPerSec: 1.27 * GB, hintBlockUs: 74, firstTouchUsPerPage: 19 },
  sources: {
    bandwidth: '1.76 GB/s: 2.33 µs more per page sent whole than per zero page, measured (two unlimited migrations of 4 GiB guests, fresh and holding 512 MiB of data, into a file on a tmpfs through `cat`)',
    scanRate: '19.9 GB/s: 0.21 µs per zero page the thread looks at, from the same two migrations',
    sync: "a sync walks QEMU's own dirty memory bitmap (no KVM ioctl): 0.05 ms, plus 32 KiB of bitmap per GiB (0.02 ms)",
    zeroBytesPerSec: '243 MB/s: a hint round of an 8 GiB guest takes 17.3 ms more per 4 MiB block with init_on_alloc=1 than without, measured',
    hintBlockUs: '70 µs: the same round without init_on_alloc, 1,941 blocks in 137 ms (an upper bound: it includes the QMP command that starts it)',
    cores: '2 host cores for the vCPU thread, the migration thread, the iothread and the `cat` that writes the stream (sinkThreads 1)',
    bitmapLock: "QEMU 7.2 holds the dirty bitmap's lock for a whole turn of its migration loop (since 6.1)",
  },
};

/** Every host profile by name. */
export const HOST_PROFILES: Readonly<Record<HostName, HostProfile>> = { 'kvm-xeon-2018': KVM_XEON_2018, 'tcg-2core': TCG_2CORE };
