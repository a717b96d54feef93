/**
 * `npm run calibrate:host`: measure the physical figures of the `tcg-2core` host profile on
 * this machine, each with an experiment of its own (none of them is a row of the reference
 * table in qemu-7.2-tcg.json, which the model must then predict):
 *
 * 1. The migration thread's cost per zero page and per page sent whole: unlimited migrations
 *    of 4 GiB guests (the table's are 2 GiB), one fresh (nearly every page zero), one holding
 *    512 MiB of data in a tmpfs; two equations in two unknowns.
 * 2. What a free page hint costs the guest: hint rounds of an 8 GiB guest (about 2000 blocks)
 *    under a migration slowed to 1 MiB/s, so the thread, asleep, never holds the bitmap lock:
 *    without init_on_alloc, with it on memory the guest never touched (each page it zeroes is a
 *    host page fault), and with it again on the same blocks, now backed by the host.
 *
 * Writes calibration/host-tcg-2core.json. Options: --reps N (default 3); --only thread or
 * --only hint runs one of the two (written to .cache/host-probe-partial.json).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAssets, TMPFS, Unavailable, type QemuAssets } from './assets.js';
import { Vm } from './vm.js';

/**
 * Where each run's directory (QMP socket, migration stream) lives: a tmpfs when the host has
 * one, so that the stream lands in memory and the host's disk writeback never enters the figures.
 */
const RUN_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const root = fileURLToPath(new URL('..', import.meta.url));
const BALLOON_BOUND = 'for d in /sys/bus/virtio/devices/*; do echo "$(cat $d/device) $(basename $(readlink $d/driver) 2>/dev/null)"; done | grep -q \'^0x0005 virtio_balloon$\'';
const UNLIMITED = '18446744073709551615';
/** Data the second thread probe holds: small enough that the stream stays in the host's page cache. */
const HELD_MIB = 512;

interface Guest {
  readonly memoryMiB: number;
  readonly initOnAlloc: number;
  readonly hint: boolean;
}

function argv(assets: QemuAssets, guest: Guest): string[] {
  return [
    ...assets.firmware.flatMap((dir) => ['-L', dir]),
    ...['-machine', 'pc', '-accel', 'tcg', '-m', String(guest.memoryMiB), '-smp', '1', '-nodefaults', '-display', 'none', '-serial', 'stdio'],
    ...['-qmp', 'unix:qmp.sock,server=on,wait=off', '-object', 'iothread,id=iothread0'],
    ...['-device', `virtio-balloon-pci,free-page-hint=${guest.hint ? 'on' : 'off'},iothread=iothread0`],
    ...['-kernel', assets.bzImage, '-initrd', assets.initrd, '-append', `console=ttyS0 init_on_alloc=${guest.initOnAlloc} quiet panic=-1`, '-no-reboot'],
  ];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function boot(assets: QemuAssets, guest: Guest, work: (vm: Vm) => Promise<void>): Promise<void> {
  const runDir = mkdtempSync(join(RUN_ROOT, 'freehint-probe-'));
  const vm = await Vm.start(assets.qemu, argv(assets, guest), runDir, { ...process.env, ...assets.env });
  try {
    await vm.until('the guest to boot', () => vm.console.includes('@@FH-READY'), 180_000);
    const deadline = performance.now() + 30_000;
    while ((await vm.run(BALLOON_BOUND)).status !== 0) {
      if (performance.now() > deadline) throw new Error('the balloon driver did not bind');
      await sleep(200);
    }
    await sleep(3000);
    await work(vm);
  } finally {
    await vm.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

async function migrate(vm: Vm, maxBandwidth: string, onPoll?: () => Promise<void>): Promise<Record<string, number>> {
  await vm.qmp.execute('migrate-set-parameters', undefined, `{"max-bandwidth":${maxBandwidth}}`);
  await vm.qmp.execute('migrate', { uri: 'exec:cat > stream.bin' });
  for (;;) {
    const reply = await vm.qmp.execute('query-migrate');
    const value = reply.value as { status?: string; ram?: Record<string, number>; 'total-time'?: number; downtime?: number; 'setup-time'?: number };
    if (value.status === 'completed') return { ...value.ram, totalMs: value['total-time'] ?? NaN, downtimeMs: value.downtime ?? NaN, setupMs: value['setup-time'] ?? NaN };
    if (value.status === 'failed' || value.status === 'cancelled') throw new Error(`migration ${value.status}: ${reply.raw}`);
    if (onPoll) await onPoll();
    await sleep(50);
  }
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** 1. Thread costs: a fresh 4 GiB guest, and one holding 1 GiB of data. */
async function threadCosts(assets: QemuAssets, reps: number) {
  const runs: Array<{ heldMiB: number; totalMs: number; normal: number; zero: number; downtimeMs: number }> = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const heldMiB of [0, HELD_MIB]) {
      await boot(assets, { memoryMiB: 4096, initOnAlloc: 0, hint: false }, async (vm) => {
        if (heldMiB > 0) await vm.check(`dd if=/dev/urandom of=${TMPFS}/seed bs=1M count=1 2>/dev/null && i=0 && while [ $i -lt ${heldMiB} ]; do cat ${TMPFS}/seed; i=$((i+1)); done > ${TMPFS}/held`, 600_000);
        await sleep(2000);
        const m = await migrate(vm, UNLIMITED);
        runs.push({ heldMiB, totalMs: m['totalMs']!, normal: m['normal']!, zero: m['duplicate']!, downtimeMs: m['downtimeMs']! });
        console.error(`thread: held ${heldMiB} MiB: ${m['totalMs']} ms, ${m['normal']} normal, ${m['duplicate']} zero`);
      });
    }
  }
  // totalMs = zero·c0 + normal·c1, for the medians of each guest.
  const pick = (held: number) => {
    const rs = runs.filter((r) => r.heldMiB === held);
    return { totalMs: median(rs.map((r) => r.totalMs)), normal: median(rs.map((r) => r.normal)), zero: median(rs.map((r) => r.zero)) };
  };
  const a = pick(0);
  const b = pick(HELD_MIB);
  const det = a.zero * b.normal - a.normal * b.zero;
  const zeroPageUs = ((a.totalMs * b.normal - a.normal * b.totalMs) / det) * 1000;
  const normalPageUs = ((a.zero * b.totalMs - a.totalMs * b.zero) / det) * 1000;
  return { runs, fresh: a, held: b, zeroPageUs, normalPageUs };
}

/**
 * One hint round under a migration slowed to 1 MiB/s (the thread, asleep, never holds the
 * bitmap lock), then the migration cancelled: the driver gets DONE and frees its blocks. The
 * driver's worker keeps the guest's one vCPU busy until the round ends, so the shell answers
 * only then: the round lasted until the first MemFree sample at its final level, counted from
 * the migrate command (a few ms early: an upper bound). Returns the blocks and the time.
 */
async function hintRound(vm: Vm): Promise<{ blocks: number; ms: number }> {
  const memFree = async (): Promise<number> => Number(/MemFree:\s+(\d+)/.exec(await vm.check('grep MemFree /proc/meminfo'))![1]) * 1024;
  const before = await memFree();
  const samples: Array<[number, number]> = [];
  const t0 = performance.now();
  await vm.qmp.execute('migrate-set-parameters', undefined, '{"max-bandwidth":1048576}');
  await vm.qmp.execute('migrate', { uri: 'exec:cat > /dev/null' });
  let last = before;
  for (let still = 0; still < 10 && performance.now() - t0 < 180_000; ) {
    const free = await memFree();
    samples.push([Math.round(performance.now() - t0), free]);
    still = free === last ? still + 1 : 0;
    last = free;
  }
  await vm.qmp.execute('migrate_cancel');
  // DONE: the driver frees what it held; wait until MemFree is back.
  for (const deadline = performance.now() + 60_000; (await memFree()) < before - 64 * 2 ** 20 && performance.now() < deadline; ) await sleep(200);
  await sleep(1000);
  const final = samples.at(-1)![1];
  return { blocks: Math.round((before - final) / (4 * 2 ** 20)), ms: samples.find(([, f]) => f === final)![0] };
}

/**
 * 2. Hint cost: two rounds on an 8 GiB guest (about 2000 blocks each). The first zeroes memory
 * the guest never touched, so every page it writes is a host page fault; the second round takes
 * the same blocks again, now backed by the host, and pays the zeroing alone. Without
 * init_on_alloc a round pays neither.
 */
async function hintCost(assets: QemuAssets, reps: number) {
  const rounds: Array<{ initOnAlloc: number; round: number; blocks: number; ms: number; usPerBlock: number }> = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const initOnAlloc of [1, 0]) {
      await boot(assets, { memoryMiB: 8192, initOnAlloc, hint: true }, async (vm) => {
        for (const round of [1, 2]) {
          const { blocks, ms } = await hintRound(vm);
          rounds.push({ initOnAlloc, round, blocks, ms, usPerBlock: (ms * 1000) / blocks });
          console.error(`hint: init_on_alloc=${initOnAlloc} round ${round}: ${blocks} blocks in ${ms} ms`);
        }
      });
    }
  }
  const usPerBlock = (ioa: number, round: number): number => median(rounds.filter((r) => r.initOnAlloc === ioa && r.round === round).map((r) => r.usPerBlock));
  const plain = usPerBlock(0, 2);
  const zeroUs = usPerBlock(1, 2) - plain;
  const firstTouchUs = usPerBlock(1, 1) - usPerBlock(1, 2);
  return {
    rounds,
    usPerBlockNoInit: plain,
    usPerBlockInitOnAllocBacked: usPerBlock(1, 2),
    usPerBlockInitOnAllocFirstTouch: usPerBlock(1, 1),
    zeroBytesPerSec: (4 * 2 ** 20) / (zeroUs / 1e6),
    firstTouchUsPerPage: firstTouchUs / 1024,
  };
}

async function main(): Promise<void> {
  const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] ?? 3) || 3;
  let assets: QemuAssets;
  try {
    assets = buildAssets();
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    console.error(`skipped: the host probe did not run: ${error.message}`);
    return;
  }
  const started = performance.now();
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : ['thread', 'hint'];
  const thread = only.includes('thread') ? await threadCosts(assets, reps) : undefined;
  const hint = only.includes('hint') ? await hintCost(assets, reps) : undefined;
  const qemu = execFileSync(assets.qemu, ['--version'], { encoding: 'utf8', env: { ...process.env, ...assets.env } }).split('\n')[0];
  const report = {
    description: 'Physical figures of the tcg-2core host profile, measured by `npm run calibrate:host`',
    generated: new Date().toISOString(),
    runtimeSeconds: Math.round((performance.now() - started) / 1000),
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model },
    qemu,
    reps,
    thread,
    hint,
  };
  const full = only.length === 2;
  writeFileSync(join(root, full ? 'calibration' : '.cache', full ? 'host-tcg-2core.json' : 'host-probe-partial.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    JSON.stringify(
      { zeroPageUs: thread?.zeroPageUs, normalPageUs: thread?.normalPageUs, hintUsPerBlock: hint?.usPerBlockNoInit, zeroBytesPerSec: hint?.zeroBytesPerSec, firstTouchUsPerPage: hint?.firstTouchUsPerPage },
      null,
      2,
    ),
  );
}

void main();
