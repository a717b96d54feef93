/**
 * Builds what the Linux guest test boots, from Debian's own packages (Debian only):
 * - the i386 `linux-image-*-686` kernel (its ABI name resolved from `linux-image-686:i386`),
 * - an initramfs: `busybox-static:i386`, the six virtio modules, and an /init that loads them
 *   and then runs commands sent over the serial line, ending each with a marker,
 * - SeaBIOS (`seabios`), which v86 can boot.
 * They are cached under .cache/linux-guest/<package versions>/. Run: `npx tsx test-linux/build-assets.ts`.
 * Exit code 3 means Debian's archive could not be reached (the caller may skip, loudly).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
export const ARCHIVE_UNREACHABLE = 3;

/**
 * The modules virtio-pci and the balloon need. They are loaded in the order their own
 * `depends=` lines give, which changes between kernel builds (6.1.0-57's virtio needs virtio_ring).
 */
const MODULES = ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon'];

/**
 * /init: mount, load the modules, then a command loop on the serial line. Each command's output
 * ends with "@@FH-END-<n> <status>", a line only the loop prints (n counts commands), so an
 * echoed command can never be mistaken for it.
 */
const initScript = (loadOrder: readonly string[]): string => `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${loadOrder.join(' ')}; do insmod /lib/modules/$m.ko || echo "@@FH-INSMOD-FAILED $m"; done
stty -F /dev/ttyS0 -echo raw 2>/dev/null
echo "@@FH-READY"
n=0
while read -r line; do
  n=$((n + 1))
  sh -c "$line" 2>&1
  echo "@@FH-END-$n $?"
done </dev/ttyS0
`;

export interface GuestAssets {
  readonly dir: string;
  readonly bzImage: string;
  readonly initrd: string;
  readonly bios: string;
  readonly kernelVersion: string;
}

function run(command: string, args: string[], cwd?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
}

/** Run, retrying a few times (the archive is a network service). */
function retried(command: string, args: string[], cwd?: string): string {
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return run(command, args, cwd);
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

/** The candidate version of a package, as apt sees it. */
function version(pkg: string): string {
  const policy = run('apt-cache', ['policy', pkg]);
  const match = /Candidate:\s*(\S+)/.exec(policy);
  if (!match || match[1] === '(none)') throw new Error(`no candidate for ${pkg}`);
  return match[1]!;
}

/** One cpio "newc" entry. */
function cpioEntry(name: string, mode: number, data: Uint8Array, ino: number): Buffer {
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
  const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.concat([Buffer.from(header + name + '\0', 'latin1')]);
  return Buffer.concat([head, pad(head.length), Buffer.from(data), pad(data.length)]);
}

function initramfs(files: ReadonlyArray<[string, number, Uint8Array]>): Buffer {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules'];
  const entries = [...dirs.map((d): [string, number, Uint8Array] => [d, 0o040755, new Uint8Array(0)]), ...files];
  const parts = entries.map(([name, mode, data], i) => cpioEntry(name, mode, data, i + 1));
  parts.push(cpioEntry('TRAILER!!!', 0, new Uint8Array(0), 0));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}

export function buildAssets(log: (line: string) => void = console.error): GuestAssets {
  // i386 packages on an amd64 host; an index mismatch on one mirror (exit 100) is not fatal.
  if (!run('dpkg', ['--print-foreign-architectures']).split('\n').includes('i386')) run('dpkg', ['--add-architecture', 'i386']);
  let kernelPackage: string | undefined;
  const resolve = (): string | undefined => /Depends:\s*(linux-image-\d\S*)/.exec(run('apt-cache', ['depends', 'linux-image-686:i386']))?.[1];
  try {
    kernelPackage = resolve();
  } catch {
    kernelPackage = undefined;
  }
  if (kernelPackage === undefined) {
    try {
      retried('apt-get', ['update', '-o', 'Acquire::Retries=3']);
    } catch {
      // exit 100 on a partial index failure: what did arrive is still usable
    }
    kernelPackage = resolve();
  }
  if (kernelPackage === undefined) throw Object.assign(new Error("Debian's archive is unreachable: cannot resolve linux-image-686:i386"), { unreachable: true });
  const packages = [`${kernelPackage.replace(/:i386$/, '')}:i386`, 'busybox-static:i386', 'seabios'];
  const versions = packages.map(version);
  const key = createHash('sha256')
    .update(JSON.stringify({ packages, versions, init: initScript(MODULES), MODULES }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(root, '.cache', 'linux-guest', `${kernelPackage.replace(/:i386$/, '')}-${key}`);
  const assets = { dir, bzImage: join(dir, 'bzImage'), initrd: join(dir, 'initrd.gz'), bios: join(dir, 'bios.bin'), kernelVersion: kernelPackage.replace(/^linux-image-/, '').replace(/:i386$/, '') };
  if (existsSync(join(dir, 'complete'))) return assets;

  log(`building the Linux guest: ${packages.map((p, i) => `${p} ${versions[i]}`).join(', ')}`);
  const work = mkdtempSync(join(tmpdir(), 'freehint-linux-'));
  try {
    try {
      retried('apt-get', ['download', ...packages], work);
    } catch (error) {
      throw Object.assign(new Error(`Debian's archive is unreachable: apt-get download failed: ${String(error)}`), { unreachable: true });
    }
    const debs = readdirSync(work).filter((f) => f.endsWith('.deb'));
    for (const deb of debs) run('dpkg-deb', ['-x', join(work, deb), join(work, 'x')]);
    const x = join(work, 'x');
    const kver = assets.kernelVersion;
    const objects = new Map(MODULES.map((m) => [m, readFileSync(findModule(join(x, 'lib', 'modules', kver, 'kernel'), `${m}.ko`))]));
    const modules = MODULES.map((m): [string, number, Uint8Array] => [`lib/modules/${m}.ko`, 0o100644, objects.get(m)!]);
    const init = initScript(loadOrder(new Map(MODULES.map((m) => [m, modinfoDepends(objects.get(m)!)]))));
    const image = initramfs([['init', 0o100755, Buffer.from(init)], ['bin/busybox', 0o100755, readFileSync(join(x, 'bin', 'busybox'))], ...modules]);
    const staging = `${dir}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, 'bzImage'), readFileSync(join(x, 'boot', `vmlinuz-${kver}`)));
    writeFileSync(join(staging, 'initrd.gz'), image);
    writeFileSync(join(staging, 'bios.bin'), readFileSync(join(x, 'usr', 'share', 'seabios', 'bios.bin')));
    writeFileSync(join(staging, 'complete'), `${packages.map((p, i) => `${p} ${versions[i]}`).join('\n')}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return assets;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A module's `depends=` entry from its .modinfo section (NUL-separated key=value strings). */
function modinfoDepends(object: Uint8Array): string[] {
  const found = /\0depends=([^\0]*)\0/.exec(Buffer.from(object).toString('latin1'));
  if (!found) throw new Error('a module without a depends= entry in .modinfo');
  return found[1]!.split(',').filter((name) => name !== '');
}

/** Every module after the ones it depends on; each dependency must be one of the modules shipped. */
function loadOrder(depends: ReadonlyMap<string, readonly string[]>): string[] {
  const order: string[] = [];
  const visit = (name: string, path: readonly string[]): void => {
    if (order.includes(name)) return;
    if (path.includes(name)) throw new Error(`modules depend on each other: ${[...path, name].join(' → ')}`);
    const needs = depends.get(name);
    if (needs === undefined) throw new Error(`${path.at(-1)} needs ${name}, which the initramfs does not ship`);
    for (const dep of needs) visit(dep, [...path, name]);
    order.push(name);
  };
  for (const name of depends.keys()) visit(name, []);
  return order;
}

function findModule(dir: string, file: string): string {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = (() => {
        try {
          return findModule(path, file);
        } catch {
          return undefined;
        }
      })();
      if (found) return found;
    } else if (entry.name === file) {
      return path;
    }
  }
  throw new Error(`module ${file} not in the kernel package`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const assets = buildAssets();
    console.log(assets.dir);
  } catch (error) {
    console.error(`build-assets: ${error instanceof Error ? error.message : String(error)}`);
    process.exit((error as { unreachable?: boolean }).unreachable ? ARCHIVE_UNREACHABLE : 1);
  }
}
