/**
 * Where a real guest keeps its data: boots the calibration guest (2 GiB, init_on_alloc=1; pass
 * D to write and free D MiB first), idles, stops it, dumps its RAM with QMP's pmemsave into a
 * tmpfs and prints, per 16 MiB, how many of its 4 KiB pages hold anything but zeros. This is
 * what placed the simulated guest's memory map at the top of RAM and its allocations just below.
 * Run: `npx tsx calibration/ram-layout.ts [D]`.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildAssets } from './assets.js';
import { DROP_CACHES, qemuArgv, writeFreeCommand } from './guest-run.js';
import { Vm } from './vm.js';
const assets = buildAssets();
const D = Number(process.argv[2] ?? 0);
const runDir = mkdtempSync(join('/dev/shm', 'layout-'));
const argv = qemuArgv(assets, { hint: false, initOnAlloc: 1 });
const vm = await Vm.start(assets.qemu, argv, runDir, { ...process.env, ...assets.env });
await vm.until('boot', () => vm.console.includes('@@FH-READY'), 180000);
await new Promise((r) => setTimeout(r, 5000));
if (D > 0) await vm.check(writeFreeCommand(D), 300000);
await vm.check(DROP_CACHES);
await new Promise((r) => setTimeout(r, 3000));
await vm.qmp.execute('stop');
await vm.qmp.execute('pmemsave', { val: 0, size: 2 ** 31, filename: join(runDir, 'mem.bin') });
await vm.stop();
const fd = openSync(join(runDir, 'mem.bin'), 'r');
const page = Buffer.alloc(4096);
const perMiB16: number[] = [];
for (let p = 0; p < 2 ** 31 / 4096; p++) {
  readSync(fd, page, 0, 4096, p * 4096);
  let nz = false;
  for (let i = 0; i < 4096; i += 8)
    if (page.readBigUInt64LE(i) !== 0n) {
      nz = true;
      break;
    }
  const b = Math.floor(p / 4096);
  perMiB16[b] = (perMiB16[b] ?? 0) + (nz ? 1 : 0);
}
closeSync(fd);
rmSync(runDir, { recursive: true, force: true });
console.log(perMiB16.map((n, i) => `${i * 16}M:${n}`).join(' '));
console.log(
  'total nonzero',
  perMiB16.reduce((a, b) => a + b, 0),
);
