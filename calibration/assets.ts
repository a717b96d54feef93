/**
 * Builds what the QEMU calibration boots, from Debian's own packages (Debian only):
 * - QEMU: `qemu-system-x86`, `qemu-system-data`, `seabios` and `qemu-system-common` (Debian
 *   builds TCG as a loadable module, accel-tcg-x86_64.so, shipped there), plus those of QEMU's
 *   library dependencies that this host does not have installed (found by walking
 *   `apt-cache depends` from `qemu-system-x86`; the walk does not enter `qemu-system-common`,
 *   whose other modules (spice, audio, usb) are never loaded here, nor `ipxe-qemu`: the guest has
 *   no NIC). Nothing is installed: the packages are extracted with `dpkg-deb -x`, and QEMU runs
 *   with LD_LIBRARY_PATH and QEMU_MODULE_DIR pointing into the extracted tree.
 * - the amd64 kernel `linux-image-*-amd64` (its ABI name resolved from `linux-image-amd64`),
 * - an initramfs: `busybox-static`, the six virtio modules the balloon needs, and an /init that
 *   loads them and then runs commands sent over the serial line, ending each with a marker.
 * Everything is cached under .cache/qemu-guest/<kernel package>-<hash of package versions>/.
 * Run alone: `npx tsx calibration/assets.ts`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Thrown when this host cannot build the assets at all: not Debian, or Debian's archive unreachable. */
export class Unavailable extends Error {}

/**
 * The modules virtio-pci and the balloon need (Debian's amd64 config builds all six as modules:
 * CONFIG_VIRTIO=m, CONFIG_VIRTIO_PCI_LIB=m, CONFIG_VIRTIO_PCI_LIB_LEGACY=m, CONFIG_VIRTIO_PCI=m,
 * CONFIG_VIRTIO_BALLOON=m). They are loaded in the order their own `depends=` lines give.
 */
const MODULES = ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon'];

/** Packages QEMU's dependency walk does not enter: fetched without their dependencies (true), or not at all. */
const QEMU_NOT_WALKED = new Map([
  ['qemu-system-common', true],
  ['ipxe-qemu', false],
]);

/** Where the guest mounts the tmpfs that the write-then-free step fills. */
export const TMPFS = '/mnt';

/**
 * /init: mount, load the modules, mount a tmpfs, then a command loop on the serial line. Each
 * command's output ends with "@@FH-END-<n> <status>", a line only the loop prints (n counts
 * commands), so an echoed command can never be mistaken for it.
 */
const initScript = (loadOrder: readonly string[]): string => `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${loadOrder.join(' ')}; do insmod /lib/modules/$m.ko || echo "@@FH-INSMOD-FAILED $m"; done
mkdir -p ${TMPFS}
mount -t tmpfs -o size=1536m tmpfs ${TMPFS}
stty -F /dev/ttyS0 -echo raw 2>/dev/null
echo "@@FH-READY"
n=0
while read -r line; do
  n=$((n + 1))
  sh -c "$line" 2>&1
  echo "@@FH-END-$n $?"
done </dev/ttyS0
`;

export interface PackageVersion {
  readonly package: string;
  readonly version: string;
}

export interface QemuAssets {
  readonly dir: string;
  /** qemu-system-x86_64 inside the extracted tree. */
  readonly qemu: string;
  /** Firmware directories for QEMU's -L. */
  readonly firmware: readonly string[];
  /** The environment the extracted QEMU runs with (LD_LIBRARY_PATH, QEMU_MODULE_DIR). */
  readonly env: Readonly<Record<string, string>>;
  readonly bzImage: string;
  readonly initrd: string;
  /** The kernel's release string (e.g. 6.1.0-50-amd64). */
  readonly kernelRelease: string;
  /** Every package fetched, with the version apt chose. */
  readonly packages: readonly PackageVersion[];
  /** The modules in the order /init loads them. */
  readonly moduleOrder: readonly string[];
  /** The /init script, verbatim. */
  readonly init: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** Run, retrying a few times (the archive is a network service). */
function retried(command: string, args: string[], cwd?: string): string {
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return run(command, args, cwd === undefined ? {} : { cwd });
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

function hasCommand(command: string): boolean {
  try {
    run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/** The candidate version of a package, as apt sees it. */
function version(pkg: string): string {
  const policy = run('apt-cache', ['policy', pkg]);
  const match = /Candidate:\s*(\S+)/.exec(policy);
  if (!match || match[1] === '(none)') throw new Unavailable(`apt has no candidate for ${pkg}`);
  return match[1]!;
}

function installed(pkg: string): boolean {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax, not a template
    return run('dpkg-query', ['-W', '-f=${Status}', pkg]).trim() === 'install ok installed';
  } catch {
    return false;
  }
}

/** The direct `Depends:` of a package (first alternative of each; virtual names skipped). */
function depends(pkg: string): string[] {
  return run('apt-cache', ['depends', pkg])
    .split('\n')
    .map((line) => /^\s{2}\|?Depends:\s*(\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && !name.startsWith('<'))
    .map((name) => name.replace(/:amd64$/, ''));
}

/** qemu-system-x86 and every package it needs that this host lacks (see QEMU_NOT_WALKED). */
function qemuPackages(): string[] {
  const found: string[] = [];
  const queue = ['qemu-system-x86'];
  while (queue.length > 0) {
    const pkg = queue.shift()!;
    if (found.includes(pkg)) continue;
    const notWalked = QEMU_NOT_WALKED.get(pkg);
    if (notWalked !== undefined) {
      if (notWalked) found.push(pkg);
      continue;
    }
    found.push(pkg);
    for (const dep of depends(pkg)) if (!found.includes(dep) && !installed(dep)) queue.push(dep);
  }
  return found;
}

/** One cpio "newc" entry. */
function cpioEntry(name: string, mode: number, data: Uint8Array, ino: number): Buffer {
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
  const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.from(header + name + '\0', 'latin1');
  return Buffer.concat([head, pad(head.length), Buffer.from(data), pad(data.length)]);
}

function initramfs(files: ReadonlyArray<[string, number, Uint8Array]>): Buffer {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'mnt', 'lib', 'lib/modules'];
  const entries = [...dirs.map((d): [string, number, Uint8Array] => [d, 0o040755, new Uint8Array(0)]), ...files];
  const parts = entries.map(([name, mode, data], i) => cpioEntry(name, mode, data, i + 1));
  parts.push(cpioEntry('TRAILER!!!', 0, new Uint8Array(0), 0));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}

/** A module's `depends=` entry from its .modinfo section (NUL-separated key=value strings). */
function modinfoDepends(object: Uint8Array): string[] {
  const found = /\0depends=([^\0]*)\0/.exec(Buffer.from(object).toString('latin1'));
  if (!found) throw new Error('a module without a depends= entry in .modinfo');
  return found[1]!.split(',').filter((name) => name !== '');
}

/** Every module after the ones it depends on; each dependency must be one of the modules shipped. */
function loadOrder(deps: ReadonlyMap<string, readonly string[]>): string[] {
  const order: string[] = [];
  const visit = (name: string, path: readonly string[]): void => {
    if (order.includes(name)) return;
    if (path.includes(name)) throw new Error(`modules depend on each other: ${[...path, name].join(' → ')}`);
    const needs = deps.get(name);
    if (needs === undefined) throw new Error(`${path.at(-1)} needs ${name}, which the initramfs does not ship`);
    for (const dep of needs) visit(dep, [...path, name]);
    order.push(name);
  };
  for (const name of deps.keys()) visit(name, []);
  return order;
}

function findFile(dir: string, file: string): string | undefined {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = findFile(path, file);
      if (found) return found;
    } else if (entry.name === file) {
      return path;
    }
  }
  return undefined;
}

interface Manifest {
  readonly packages: readonly PackageVersion[];
  readonly kernelRelease: string;
  readonly moduleOrder: readonly string[];
  readonly init: string;
}

function assetsIn(dir: string, manifest: Manifest): QemuAssets {
  const tree = join(dir, 'qemu');
  return {
    dir,
    qemu: join(tree, 'usr', 'bin', 'qemu-system-x86_64'),
    firmware: [join(tree, 'usr', 'share', 'qemu'), join(tree, 'usr', 'share', 'seabios')],
    env: {
      LD_LIBRARY_PATH: [join(tree, 'usr', 'lib', 'x86_64-linux-gnu'), join(tree, 'lib', 'x86_64-linux-gnu')].join(':'),
      QEMU_MODULE_DIR: join(tree, 'usr', 'lib', 'x86_64-linux-gnu', 'qemu'),
    },
    bzImage: join(dir, 'bzImage'),
    initrd: join(dir, 'initrd.gz'),
    ...manifest,
  };
}

export function buildAssets(log: (line: string) => void = console.error): QemuAssets {
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb', 'dpkg-query']) {
    if (!hasCommand(tool)) throw new Unavailable(`${tool} is not on this host (the calibration needs Debian's tools)`);
  }
  if (process.arch !== 'x64') throw new Unavailable(`the calibration uses Debian's amd64 packages; this host is ${process.arch}`);
  const resolve = (): string | undefined => {
    try {
      return /Depends:\s*(linux-image-\d\S*)/.exec(run('apt-cache', ['depends', 'linux-image-amd64']))?.[1];
    } catch {
      return undefined;
    }
  };
  let kernelPackage = resolve();
  if (kernelPackage === undefined || !hasCandidate('qemu-system-x86')) {
    try {
      retried('apt-get', ['update', '-o', 'Acquire::Retries=3']);
    } catch {
      // exit 100 on a partial index failure: what did arrive is still usable
    }
    kernelPackage = resolve();
  }
  if (kernelPackage === undefined) throw new Unavailable("Debian's archive is unreachable: cannot resolve linux-image-amd64");
  const qemu = qemuPackages();
  const packages = ['linux-image-amd64', kernelPackage, 'busybox-static', ...qemu];
  const versions = packages.map((pkg): PackageVersion => ({ package: pkg, version: version(pkg) }));
  const kernelRelease = kernelPackage.replace(/^linux-image-/, '');
  const key = createHash('sha256')
    .update(JSON.stringify({ versions, init: initScript(MODULES), MODULES }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(root, '.cache', 'qemu-guest', `${kernelPackage}-${key}`);
  const manifestPath = join(dir, 'complete.json');
  if (existsSync(manifestPath)) return assetsIn(dir, JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest);

  log(`building the QEMU guest: ${versions.map((v) => `${v.package} ${v.version}`).join(', ')}`);
  const work = mkdtempSync(join(tmpdir(), 'freehint-qemu-'));
  try {
    try {
      // linux-image-amd64 is a metapackage: only the versioned kernel is downloaded.
      retried('apt-get', ['download', ...packages.filter((p) => p !== 'linux-image-amd64')], work);
    } catch (error) {
      throw new Unavailable(`Debian's archive is unreachable: apt-get download failed: ${String(error)}`);
    }
    const debs = readdirSync(work).filter((f) => f.endsWith('.deb'));
    const staging = `${dir}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    const x = join(work, 'x');
    for (const deb of debs) {
      const isQemuSide = qemu.some((p) => deb.startsWith(`${p}_`));
      run('dpkg-deb', ['-x', join(work, deb), isQemuSide ? join(staging, 'qemu') : x]);
    }
    const objects = new Map(
      MODULES.map((m) => {
        const path = findFile(join(x, 'lib', 'modules', kernelRelease, 'kernel'), `${m}.ko`);
        if (path === undefined) throw new Error(`module ${m}.ko is not in ${kernelPackage}`);
        return [m, readFileSync(path)];
      }),
    );
    const moduleOrder = loadOrder(new Map(MODULES.map((m) => [m, modinfoDepends(objects.get(m)!)])));
    const init = initScript(moduleOrder);
    const modules = MODULES.map((m): [string, number, Uint8Array] => [`lib/modules/${m}.ko`, 0o100644, objects.get(m)!]);
    const image = initramfs([['init', 0o100755, Buffer.from(init)], ['bin/busybox', 0o100755, readFileSync(join(x, 'bin', 'busybox'))], ...modules]);
    writeFileSync(join(staging, 'bzImage'), readFileSync(join(x, 'boot', `vmlinuz-${kernelRelease}`)));
    writeFileSync(join(staging, 'initrd.gz'), image);
    writeFileSync(join(staging, 'config'), readFileSync(join(x, 'boot', `config-${kernelRelease}`)));
    const manifest: Manifest = { packages: versions, kernelRelease, moduleOrder, init };
    const assets = assetsIn(staging, manifest);
    const tcg = join(assets.env['QEMU_MODULE_DIR']!, 'accel-tcg-x86_64.so');
    const missing = [assets.qemu, tcg].flatMap((binary) => run('ldd', [binary], { env: { ...process.env, ...assets.env } }).split('\n')).filter((line) => line.includes('not found'));
    if (missing.length > 0) throw new Error(`the extracted QEMU still lacks libraries:\n${missing.join('\n')}`);
    writeFileSync(join(staging, 'complete.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return assetsIn(dir, manifest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function hasCandidate(pkg: string): boolean {
  try {
    version(pkg);
    return true;
  } catch {
    return false;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(buildAssets().dir);
  } catch (error) {
    console.error(`calibration assets: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof Unavailable ? 3 : 1);
  }
}
