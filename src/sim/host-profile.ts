/**
 * Host profiles: the physical figures of the machine a migration runs on, one set per host,
 * each with where it comes from. The migration thread's costs go to the engine's cost model;
 * what a guest vCPU gets done goes to the guest (the balloon driver pays for its hints in it).
 */
import type { GuestCpuCosts } from '../guest/balloon-driver.js';
import type { CostModel } from '../migration/cost-model.js';

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

export const HOST_NAMES = ['kvm-xeon-2018', 'tcg-2core'] as const;
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
  guest: { zeroBytesPerSec: 10 * GB, hintBlockUs: 5 },
  sources: {
    bandwidth: "1.5 GB/s: one migration thread copying into a socket (QEMU's single channel moves 10–15 Gbit/s; the runs set no cap)",
    scanRate: '5.5 GB/s: 0.75 µs per page the thread looks at (bitmap walk, buffer_is_zero, record) at 2.2 GHz',
    sync: 'KVM_GET_DIRTY_LOG round trip 0.05 ms, plus walking and clearing 32 KiB of bitmap per GiB (0.2 ms)',
    zeroBytesPerSec: "10 GB/s: one Broadwell core's store bandwidth (clear_page with rep stosb), as single-thread STREAM measures it",
    hintBlockUs: '5 µs: taking a block off an order-10 free list (about 1 µs) and a virtio-pci notify, one trapped write: a KVM exit to the ioeventfd and back (about 4 µs)',
  },
};

/**
 * A small host running the guest under QEMU's TCG (no KVM): two cores, the vCPU emulated. The
 * figures were measured on such a machine; see calibration/README.md for how.
 */
export const TCG_2CORE: HostProfile = {
  name: 'tcg-2core',
  description: 'a 2-core host emulating the guest with QEMU TCG (no KVM), migrating to a file',
  cores: 2,
  migration: { bandwidth: 2.5 * GB, scanRate: 18.6 * GB, syncFixedMs: 0.05, syncPerGiBMs: 0.2, bitmapLock: 'per-iteration', sinkThreads: 1 },
  guest: { zeroBytesPerSec: 0.417 * GB, hintBlockUs: 36 },
  sources: {
    bandwidth: 'provisional',
    scanRate: 'provisional',
    sync: 'provisional',
    zeroBytesPerSec: 'provisional',
    hintBlockUs: 'provisional',
  },
};

export const HOST_PROFILES: Readonly<Record<HostName, HostProfile>> = { 'kvm-xeon-2018': KVM_XEON_2018, 'tcg-2core': TCG_2CORE };
