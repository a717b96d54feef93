/**
 * `npm run calibrate:qemu`: measure real QEMU 7.2 migrations (TCG) of a busybox guest with the
 * virtio-balloon's free page hinting on and off, and write the reference table
 * calibration/qemu-7.2-tcg.json. See calibration/README.md for what it does and why.
 *
 * Options:
 *   --reps N        repetitions per row (default 3)
 *   --reps-unlimited M  repetitions of the rows without a bandwidth limit (default N): they
 *                   last 0.1–0.8 s and spread widely, so their medians need more
 *   --rows A,B      only the rows whose id contains one of these (e.g. "d256-bwmax", "ioa0-hint-on")
 *   --quick         one repetition of the two rows d256-bw128-ioa1 (hint off, hint on)
 *   --dest file|null  where the migration stream goes: a file in the run directory (default) or /dev/null
 *   --out PATH      where the JSON goes (default: calibration/qemu-7.2-tcg.json for the full
 *                   matrix, .cache/qemu-calibration/partial.json otherwise)
 *   --table FILE    measure nothing: print the Markdown table of a JSON this script wrote
 *                   (e.g. calibration/qemu-7.2-tcg.json) and exit
 *
 * Without Debian's tools or archive nothing can be measured: a banner says so and the exit code is 0.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAssets, Unavailable, type QemuAssets } from './assets.js';
import { DROP_CACHES, kernelCmdline, MEMORY_MIB, qemuArgv, writeFreeCommand } from './guest-run.js';
import { table, tableOfFile, type Comparison } from './qemu-table.js';
import { Vm } from './vm.js';

/**
 * Where each run's directory (QMP socket, migration stream) lives: a tmpfs when the host has
 * one, so that the stream lands in memory and the host's disk writeback never enters the figures.
 */
const RUN_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const root = fileURLToPath(new URL('..', import.meta.url));

/** Guest size: 2 GiB of RAM, one vCPU. */
/** After the balloon driver is bound, the guest idles this long before anything else. */
const SETTLE_MS = 3_000;
/** After the write-then-free step (and the cache drop), the guest idles this long before the migration starts. */
const IDLE_MS = 5_000;
/** query-migrate is polled this often while a migration runs. */
const POLL_MS = 50;
/** VIRTIO_BALLOON_F_FREE_PAGE_HINT. */
const FREE_PAGE_HINT_BIT = 3;
/** virtio device id of the balloon. */
const BALLOON_DEVICE_ID = '0x0005';

interface Bandwidth {
  readonly id: string;
  readonly label: string;
  /** max-bandwidth in bytes/s, as the decimal text sent to QMP (the unlimited one is beyond 2^53). */
  readonly maxBandwidth: string;
}

/**
 * 128 MiB/s is QEMU 7.2's default max-bandwidth (MAX_THROTTLE). "Unlimited" is the largest value
 * QEMU 7.2 accepts, 2^64 - 1 (its check is max_bandwidth <= SIZE_MAX); the rate limit becomes
 * that over 10 per 100 ms window, which is never reached.
 */
const BANDWIDTHS: readonly Bandwidth[] = [
  { id: 'bw128', label: '128 MiB/s', maxBandwidth: String(128 * 1024 * 1024) },
  { id: 'bwmax', label: 'unlimited', maxBandwidth: '18446744073709551615' },
];
const FREED_MIB = [0, 256] as const;
const INIT_ON_ALLOC = [1, 0] as const;

interface Row {
  readonly id: string;
  readonly freedMiB: number;
  readonly bandwidth: Bandwidth;
  readonly initOnAlloc: number;
  readonly hint: boolean;
}

const rowId = (freedMiB: number, bw: Bandwidth, ioa: number, hint: boolean): string => `d${freedMiB}-${bw.id}-ioa${ioa}-hint-${hint ? 'on' : 'off'}`;

const MATRIX: readonly Row[] = FREED_MIB.flatMap((freedMiB) =>
  BANDWIDTHS.flatMap((bandwidth) => INIT_ON_ALLOC.flatMap((initOnAlloc) => [false, true].map((hint): Row => ({ id: rowId(freedMiB, bandwidth, initOnAlloc, hint), freedMiB, bandwidth, initOnAlloc, hint })))),
);

const MEMINFO = "grep -E '^(MemTotal|MemFree):' /proc/meminfo";
const VIRTIO_DEVICES = 'for d in /sys/bus/virtio/devices/*; do echo "$(cat $d/device) $(cat $d/features) $(basename $(readlink $d/driver) 2>/dev/null)"; done';

type Metrics = Record<string, number>;

interface Rep {
  readonly rep: number;
  readonly metrics: Metrics;
  readonly guest: { readonly memTotalKiB: number; readonly memFreeKiB: number; readonly balloonFeatures: string };
  readonly host: { readonly bootMs: number; readonly writeFreeMs: number; readonly migrateWallMs: number; readonly streamBytes: number | null; readonly polls: number };
  /** Pages sent (ram.normal + ram.duplicate), and that less the pages of RAM QEMU migrates (ram.total / ram.page-size): below 0, pages never sent; above 0, pages sent again. */
  readonly derived: { readonly pagesSent: number; readonly pagesSentBeyondRam: number };
}

interface Options {
  readonly reps: number;
  readonly repsUnlimited: number;
  readonly rows: readonly Row[];
  readonly dest: 'file' | 'null';
  readonly out: string;
}

function parseArgs(args: readonly string[]): Options {
  let reps = 3;
  let repsUnlimited: number | undefined;
  let filters: string[] | undefined;
  let quick = false;
  let dest: 'file' | 'null' = 'file';
  let out: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--reps') reps = Number(value());
    else if (arg === '--reps-unlimited') repsUnlimited = Number(value());
    else if (arg === '--rows')
      filters = value()
        .split(',')
        .filter((f) => f !== '');
    else if (arg === '--quick') quick = true;
    else if (arg === '--dest') {
      const v = value();
      if (v !== 'file' && v !== 'null') throw new Error('--dest is file or null');
      dest = v;
    } else if (arg === '--out') out = value();
    else throw new Error(`unknown option ${arg}`);
  }
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps needs a positive integer');
  if (repsUnlimited !== undefined && (!Number.isInteger(repsUnlimited) || repsUnlimited < 1)) throw new Error('--reps-unlimited needs a positive integer');
  if (quick) {
    filters = ['d256-bw128-ioa1'];
    reps = 1;
  }
  const rows = filters === undefined ? MATRIX : MATRIX.filter((row) => filters!.some((f) => row.id.includes(f)));
  if (rows.length === 0) throw new Error(`no row matches ${filters!.join(',')}; rows are:\n${MATRIX.map((r) => r.id).join('\n')}`);
  const full = rows.length === MATRIX.length && dest === 'file';
  return { reps, repsUnlimited: repsUnlimited ?? reps, rows, dest, out: out ?? (full ? join(root, 'calibration', 'qemu-7.2-tcg.json') : join(root, '.cache', 'qemu-calibration', 'partial.json')) };
}

/** A flat { "total-time": …, "ram.normal": … } of every number in a query-migrate reply. */
function flatten(value: unknown, prefix = ''): Metrics {
  const out: Metrics = {};
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) Object.assign(out, flatten(inner, prefix === '' ? key : `${prefix}.${key}`));
  } else if (typeof value === 'number') {
    out[prefix] = value;
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const rel = (path: string): string => relative(root, path) || '.';

let current: Vm | undefined;

interface Session {
  defaults?: { parameters: unknown; capabilities: unknown };
  guestFacts?: { busybox: string; uname: string; cmdline: Record<number, string> };
  /** Every distinct QMP command text sent, in first-sent order. */
  readonly qmpCommands: Set<string>;
}

async function measure(assets: QemuAssets, row: Row, rep: number, dest: 'file' | 'null', session: Session): Promise<Rep> {
  const runDir = mkdtempSync(join(RUN_ROOT, 'freehint-qemu-run-'));
  const started = performance.now();
  const vm = await Vm.start(assets.qemu, qemuArgv(assets, row), runDir, { ...process.env, ...assets.env });
  current = vm;
  try {
    await vm.until('the guest to boot', () => vm.console.includes('@@FH-READY'), 180_000);
    const bootMs = performance.now() - started;
    const failed = /@@FH-INSMOD-FAILED (\S+)/.exec(vm.console);
    if (failed) throw new Error(`the guest could not load ${failed[1]}:\n${vm.console.slice(-2000)}`);

    // The balloon must be bound to its driver, with the hint feature negotiated as the row says.
    let balloon: string | undefined;
    const balloonDeadline = performance.now() + 30_000;
    for (;;) {
      const devices = await vm.check(VIRTIO_DEVICES);
      balloon = devices.split('\n').find((line) => line.startsWith(BALLOON_DEVICE_ID) && line.endsWith(' virtio_balloon'));
      if (balloon !== undefined) break;
      if (performance.now() > balloonDeadline) throw new Error(`${row.id}: no balloon bound to virtio_balloon after 30 s:\n${devices}`);
      await sleep(200);
    }
    const features = balloon.split(' ')[1]!;
    if ((features[FREE_PAGE_HINT_BIT] === '1') !== row.hint) throw new Error(`${row.id}: the balloon negotiated features ${features}: free page hint is ${features[FREE_PAGE_HINT_BIT] === '1' ? 'on' : 'off'}`);
    if (session.guestFacts === undefined) {
      session.guestFacts = { busybox: (await vm.check('busybox 2>&1 | head -1')).trim(), uname: (await vm.check('uname -r -v')).trim(), cmdline: {} };
    }
    session.guestFacts.cmdline[row.initOnAlloc] ??= (await vm.check('cat /proc/cmdline')).trim();
    if (session.defaults === undefined) {
      session.defaults = { parameters: (await vm.qmp.execute('query-migrate-parameters')).value, capabilities: (await vm.qmp.execute('query-migrate-capabilities')).value };
    }

    await sleep(SETTLE_MS);
    const writeStarted = performance.now();
    if (row.freedMiB > 0) await vm.check(writeFreeCommand(row.freedMiB), 300_000);
    await vm.check(DROP_CACHES, 120_000);
    const writeFreeMs = performance.now() - writeStarted;
    const meminfo = await vm.check(MEMINFO);
    const kib = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(meminfo)?.[1] ?? NaN);
    await sleep(IDLE_MS);

    await vm.qmp.execute('migrate-set-parameters', undefined, `{"max-bandwidth":${row.bandwidth.maxBandwidth}}`);
    const uri = dest === 'file' ? 'exec:cat > stream.bin' : 'exec:cat > /dev/null';
    const migrateStarted = performance.now();
    await vm.qmp.execute('migrate', { uri });
    let reply: { raw: string; value: unknown };
    let polls = 0;
    for (;;) {
      reply = await vm.qmp.execute('query-migrate');
      polls++;
      const status = (reply.value as { status?: string }).status;
      if (status === 'completed') break;
      if (status === 'failed' || status === 'cancelled') throw new Error(`${row.id}: migration ${status}: ${reply.raw}`);
      if (performance.now() - migrateStarted > 600_000) throw new Error(`${row.id}: migration still ${status} after 10 minutes: ${reply.raw}`);
      await sleep(POLL_MS);
    }
    const migrateWallMs = performance.now() - migrateStarted;
    await vm.stop();
    for (const text of vm.qmp.sent) session.qmpCommands.add(text);
    current = undefined;
    const streamBytes = dest === 'file' ? statSync(join(runDir, 'stream.bin')).size : null;
    const metrics = flatten(reply.value);
    const pagesSent = metrics['ram.normal']! + metrics['ram.duplicate']!;
    return {
      rep,
      metrics,
      guest: { memTotalKiB: kib('MemTotal'), memFreeKiB: kib('MemFree'), balloonFeatures: features },
      host: { bootMs: Math.round(bootMs), writeFreeMs: Math.round(writeFreeMs), migrateWallMs: Math.round(migrateWallMs), streamBytes, polls },
      derived: { pagesSent, pagesSentBeyondRam: pagesSent - metrics['ram.total']! / metrics['ram.page-size']! },
    };
  } finally {
    await vm.stop();
    current = undefined;
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** Medians of every number the repetitions share. */
function medians(reps: readonly Rep[]): Metrics {
  const flat = reps.map((r) => ({ ...r.metrics, ...flatten(r.derived, 'derived'), ...flatten(r.guest, 'guest'), ...flatten(r.host, 'host') }));
  const keys = Object.keys(flat[0]!).filter((key) => flat.every((f) => typeof f[key] === 'number'));
  return Object.fromEntries(keys.map((key) => [key, median(flat.map((f) => f[key]!))]));
}

const shellLine = (argv: readonly string[]): string => ['qemu-system-x86_64', ...argv].map((a) => (/^[\w.,=:/@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');

const fmt = (ms: number): string => `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;

/** Hint off vs on, per (D, bandwidth, init_on_alloc), from the row medians. */
function compare(rows: ReadonlyArray<{ row: Row; reps: readonly Rep[]; median: Metrics }>): Comparison[] {
  const keys = ['total-time', 'downtime', 'setup-time', 'ram.transferred', 'ram.normal', 'ram.duplicate', 'ram.skipped', 'ram.dirty-sync-count', 'ram.mbps', 'derived.pagesSentBeyondRam'];
  const pick = (m: Metrics): Metrics => Object.fromEntries(keys.filter((k) => k in m).map((k) => [k, m[k]!]));
  const out: Comparison[] = [];
  for (const off of rows.filter((r) => !r.row.hint)) {
    const on = rows.find((r) => r.row.hint && r.row.id === rowId(off.row.freedMiB, off.row.bandwidth, off.row.initOnAlloc, true));
    if (on === undefined) continue;
    const change = (100 * (on.median['total-time']! - off.median['total-time']!)) / off.median['total-time']!;
    out.push({
      freedMiB: off.row.freedMiB,
      bandwidth: off.row.bandwidth.label,
      initOnAlloc: off.row.initOnAlloc,
      off: pick(off.median),
      on: pick(on.median),
      totalTimeChangePercent: Math.round(change * 10) / 10,
      totalTimeReps: { off: off.reps.map((r) => r.metrics['total-time']!), on: on.reps.map((r) => r.metrics['total-time']!) },
    });
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const tableAt = args.indexOf('--table');
  if (tableAt >= 0) {
    const file = args[tableAt + 1];
    if (file === undefined || args.length !== 2) throw new Error('--table takes a file and no other option');
    console.log(tableOfFile(file));
    return;
  }
  const options = parseArgs(args);
  let assets: QemuAssets;
  try {
    assets = buildAssets();
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    const banner = '!'.repeat(78);
    console.error(`${banner}\n  skipped: THE QEMU CALIBRATION DID NOT RUN: ${error.message}\n${banner}`);
    process.exit(0);
  }
  const qemuVersion = execFileSync(assets.qemu, ['--version'], { encoding: 'utf8', env: { ...process.env, ...assets.env } }).split('\n')[0]!;
  const repsOf = (row: Row): number => (row.bandwidth.id === 'bwmax' ? options.repsUnlimited : options.reps);
  const total = options.rows.reduce((n, row) => n + repsOf(row), 0);
  console.error(`${qemuVersion}; ${options.rows.length} rows, ${options.reps} reps (${options.repsUnlimited} without a limit) = ${total} migrations; stream to ${options.dest === 'file' ? 'a file' : '/dev/null'}`);

  const session: Session = { qmpCommands: new Set() };
  const results = new Map<string, Rep[]>(options.rows.map((row) => [row.id, []]));
  const started = performance.now();
  let done = 0;
  // Repetitions are interleaved (every row once, then every row again) so slow drift on the host spreads over all rows.
  for (let rep = 1; rep <= Math.max(options.reps, options.repsUnlimited); rep++) {
    for (const row of options.rows.filter((r) => rep <= repsOf(r))) {
      const result = await measure(assets, row, rep, options.dest, session);
      results.get(row.id)!.push(result);
      done++;
      const elapsed = performance.now() - started;
      const m = result.metrics;
      console.error(
        `[${done}/${total}] ${row.id} rep ${rep}: total ${m['total-time']} ms, downtime ${m['downtime']} ms, ` +
          `${((m['ram.transferred'] ?? 0) / 2 ** 20).toFixed(1)} MiB, normal ${m['ram.normal']}, zero ${m['ram.duplicate']}, syncs ${m['ram.dirty-sync-count']}, ` +
          `MemFree ${(result.guest.memFreeKiB / 1024).toFixed(0)} MiB (elapsed ${fmt(elapsed)}, left ~${fmt((elapsed / done) * (total - done))})`,
      );
    }
  }
  const runtimeMs = performance.now() - started;

  const rows = options.rows.map((row) => ({ row, reps: results.get(row.id)!, median: medians(results.get(row.id)!) }));
  const comparisons = compare(rows);
  const version = (pkg: string): string => assets.packages.find((p) => p.package === pkg)?.version ?? 'unknown';
  const kernelPackage = assets.packages.find((p) => /^linux-image-\d/.test(p.package))!;
  const argvOf = (hint: boolean, ioa: number): string[] => qemuArgv(assets, { ...MATRIX[0]!, hint, initOnAlloc: ioa }).map((a) => (a.startsWith(root) ? rel(a) : a));
  const report = {
    description:
      'Real QEMU 7.2 (TCG) migrations of a 2 GiB busybox guest with virtio-balloon free page hinting on and off; reference for the migration model. Produced by `npm run calibrate:qemu`; see calibration/README.md.',
    generated: new Date().toISOString(),
    command: `npm run calibrate:qemu${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    runtimeSeconds: Math.round(runtimeMs / 1000),
    repetitions: options.reps,
    repetitionsUnlimited: options.repsUnlimited,
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    versions: {
      qemu: { package: 'qemu-system-x86', version: version('qemu-system-x86'), binary: qemuVersion },
      kernel: { package: kernelPackage.package, version: kernelPackage.version, metapackage: `linux-image-amd64 ${version('linux-image-amd64')}`, uname: session.guestFacts?.uname },
      busybox: { package: 'busybox-static', version: version('busybox-static'), banner: session.guestFacts?.busybox },
      seabios: { package: 'seabios', version: version('seabios') },
      extractedPackages: assets.packages,
    },
    guest: {
      memoryMiB: MEMORY_MIB,
      vcpus: 1,
      accelerator: 'tcg',
      kernelCmdline: Object.fromEntries(INIT_ON_ALLOC.map((ioa) => [`init_on_alloc=${ioa}`, kernelCmdline(ioa)])),
      procCmdline: session.guestFacts?.cmdline,
      modulesLoadOrder: assets.moduleOrder,
      init: assets.init,
      balloonFeatureBits: `features string from /sys/bus/virtio/devices/*/features, bit ${FREE_PAGE_HINT_BIT} = VIRTIO_BALLOON_F_FREE_PAGE_HINT`,
    },
    procedure: {
      boot: 'a fresh QEMU process per repetition; one migration per boot',
      waitForBalloon: `poll the guest (${VIRTIO_DEVICES}) until device ${BALLOON_DEVICE_ID} is bound to virtio_balloon; check its feature bit ${FREE_PAGE_HINT_BIT} matches the row`,
      settleMs: SETTLE_MS,
      writeThenFree: { command: writeFreeCommand(256).replace('256', '<D>'), note: 'skipped when D = 0; D MiB of non-zero data (a 1 MiB /dev/urandom seed repeated) plus the 1 MiB seed, into a tmpfs, then both deleted' },
      dropCaches: DROP_CACHES,
      meminfo: MEMINFO,
      idleMsBeforeMigration: IDLE_MS,
      migrationStream: options.dest === 'file' ? 'exec:cat > stream.bin (a file in the run directory, on a tmpfs (/dev/shm) when the host has one; its size is host.streamBytes)' : 'exec:cat > /dev/null',
      pollMs: POLL_MS,
      order: 'repetitions interleaved: every row once, then every row again',
    },
    qemu: {
      commandLine: { 'hint-off': shellLine(argvOf(false, 1)), 'hint-on': shellLine(argvOf(true, 1)) },
      argv: {
        'hint-off': argvOf(false, 1),
        'hint-on': argvOf(true, 1),
        note: 'binary: the extracted usr/bin/qemu-system-x86_64; -append changes with init_on_alloc; QEMU runs in a fresh run directory (qmp.sock, stream.bin)',
      },
      environment: Object.fromEntries(Object.entries(assets.env).map(([k, v]) => [k, v.split(':').map(rel).join(':')])),
      qmpCommands: [...session.qmpCommands],
      qmpSequence:
        'per boot: qmp_capabilities; (first boot only) query-migrate-parameters, query-migrate-capabilities; migrate-set-parameters {max-bandwidth}; migrate {uri}; query-migrate every pollMs until status is completed; quit',
      bandwidths: BANDWIDTHS.map((b) => ({ id: b.id, label: b.label, maxBandwidth: b.maxBandwidth })),
      defaultParameters: session.defaults?.parameters,
      capabilities: session.defaults?.capabilities,
    },
    metrics:
      'rows[].median and rows[].reps[].metrics hold every number of the final query-migrate reply (total-time, downtime, setup-time in ms; ram.transferred, ram.normal-bytes, ram.precopy-bytes, ram.downtime-bytes in bytes; ram.normal, ram.duplicate (zero pages), ram.skipped in pages; ram.dirty-sync-count; ram.mbps; ram.pages-per-second; …); rows[].median also has derived.* (pages sent, and pages sent beyond the page count of RAM: negative = never sent, positive = sent again), guest.* (meminfo before the idle, KiB) and host.* (wall times in ms, stream file size in bytes).',
    rows: rows.map(({ row, reps, median: m }) => ({
      id: row.id,
      freedMiB: row.freedMiB,
      bandwidth: row.bandwidth.label,
      maxBandwidth: row.bandwidth.maxBandwidth,
      initOnAlloc: row.initOnAlloc,
      freePageHint: row.hint,
      median: m,
      reps,
    })),
    comparison: comparisons,
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`\nwrote ${rel(options.out)} in ${fmt(runtimeMs)}\n`);
  console.log(table(comparisons));
}

const kill = (): void => current?.kill();
process.on('SIGINT', () => {
  kill();
  process.exit(130);
});
process.on('exit', kill);

main().catch((error: unknown) => {
  kill();
  console.error(`calibrate:qemu: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
