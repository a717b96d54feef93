/** How the calibration guest runs under QEMU: its command line and the commands it is given. */
import { TMPFS, type QemuAssets } from './assets.js';

/** The guest's RAM: 2 GiB in every row of the matrix. */
export const MEMORY_MIB = 2048;

/** The kernel command line, with or without zeroing on allocation. */
export const kernelCmdline = (initOnAlloc: number): string => `console=ttyS0 init_on_alloc=${initOnAlloc} quiet panic=-1`;

/** QEMU's argv, with paths relative to the repository root (QEMU runs in the run directory, where qmp.sock is). */
export function qemuArgv(assets: QemuAssets, row: { readonly hint: boolean; readonly initOnAlloc: number }): string[] {
  return [
    ...assets.firmware.flatMap((dir) => ['-L', dir]),
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-m',
    String(MEMORY_MIB),
    '-smp',
    '1',
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-qmp',
    'unix:qmp.sock,server=on,wait=off',
    '-object',
    'iothread,id=iothread0',
    '-device',
    `virtio-balloon-pci,free-page-hint=${row.hint ? 'on' : 'off'},iothread=iothread0`,
    '-kernel',
    assets.bzImage,
    '-initrd',
    assets.initrd,
    '-append',
    kernelCmdline(row.initOnAlloc),
    '-no-reboot',
  ];
}

/** The write-then-free step: D MiB of non-zero data into a tmpfs file (a 1 MiB random seed, repeated), then both files deleted. */
export const writeFreeCommand = (mib: number): string =>
  `dd if=/dev/urandom of=${TMPFS}/seed bs=1M count=1 2>/dev/null && i=0 && while [ $i -lt ${mib} ]; do cat ${TMPFS}/seed; i=$((i+1)); done > ${TMPFS}/fill && rm ${TMPFS}/fill ${TMPFS}/seed`;
export const DROP_CACHES = 'sync; echo 3 > /proc/sys/vm/drop_caches';
