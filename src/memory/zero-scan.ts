/**
 * Zero-page detection at memory speed. Guest RAM placed in WebAssembly memory is scanned by a
 * WebAssembly SIMD kernel (about the speed of C's memcmp against a zero page); any other
 * buffer by a one-word probe and a loop over 32-bit words. Both compare bytes as integers:
 * reading pages as floats would call a page of -0.0 zero.
 */

/** Whether `bytes[offset, offset + length)` are all zero (any buffer). */
export function isZeroRange(bytes: Uint8Array, offset: number, length: number): boolean {
  // Most pages that are not zero say so in their first bytes: skip the loop for them.
  if (length >= 4 && (bytes[offset]! | bytes[offset + 1]! | bytes[offset + 2]! | bytes[offset + 3]!) !== 0) return false;
  const end = offset + length;
  let i = offset;
  // Bytes up to a word boundary of the buffer, then whole words, then the tail.
  while (i < end && ((bytes.byteOffset + i) & 3) !== 0) if (bytes[i++] !== 0) return false;
  const words = (end - i) >>> 2;
  if (words > 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    let any = 0;
    // OR eight words per check: a zero page is the common case, and it reads every word.
    let w = 0;
    for (; w + 8 <= words; w += 8) {
      any = view[w]! | view[w + 1]! | view[w + 2]! | view[w + 3]! | view[w + 4]! | view[w + 5]! | view[w + 6]! | view[w + 7]!;
      if (any !== 0) return false;
    }
    for (; w < words; w++) any |= view[w]!;
    if (any !== 0) return false;
    i += words << 2;
  }
  for (; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

// ---- the WebAssembly kernel ----

/** Bytes one loop iteration of the kernel checks (sixteen 16-byte loads, OR-ed together). */
const BLOCK = 256;

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function vector(bytes: readonly number[]): number[] {
  return [...leb128(bytes.length), ...bytes];
}

function section(id: number, content: readonly number[]): number[] {
  return [id, ...vector(content)];
}

function name(text: string): number[] {
  return vector([...new TextEncoder().encode(text)]);
}

/**
 * The module, encoded here rather than shipped as a binary:
 * ```wat
 * (module
 *   (import "env" "memory" (memory 1))
 *   (func (export "isZero") (param $p i32) (param $n i32) (result i32) (local $end i32)
 *     (local.set $end (i32.add (local.get $p) (local.get $n)))
 *     (block $nonzero
 *       (loop $next
 *         ;; OR sixteen v128 loads at $p .. $p + 255; any bit set ends the scan
 *         (br_if $nonzero (v128.any_true (v128.or … (v128.load offset=0 (local.get $p)) …)))
 *         (br_if $next (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 256))) (local.get $end))))
 *       (return (i32.const 1)))
 *     (i32.const 0)))
 * ```
 * `$n` must be a positive multiple of 256.
 */
function kernelBytes(): Uint8Array {
  const load = (offset: number): number[] => [0x20, 0, 0xfd, 0x00, 0x04, ...leb128(offset)]; // local.get $p; v128.load align=16
  const or = [0xfd, 0x50];
  const loads: number[] = [...load(0)];
  for (let offset = 16; offset < BLOCK; offset += 16) loads.push(...load(offset), ...or);
  const code = [
    ...[0x20, 0, 0x20, 1, 0x6a, 0x21, 2], // end = p + n
    ...[0x02, 0x40, 0x03, 0x40], // block, loop
    ...loads,
    ...[0xfd, 0x53, 0x0d, 1], // v128.any_true; br_if $nonzero
    ...[0x20, 0, 0x41, ...leb128(BLOCK), 0x6a, 0x22, 0], // p += 256 (tee)
    ...[0x20, 2, 0x49, 0x0d, 0], // p < end: br_if $next
    ...[0x0b, 0x41, 1, 0x0f, 0x0b], // end loop; return 1; end block
    ...[0x41, 0, 0x0b], // 0; end
  ];
  const locals = [1, 1, 0x7f]; // one i32
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]), // type (i32, i32) -> i32
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 1]), // import memory, min 1 page
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('isZero'), 0x00, 0]),
    ...section(10, [1, ...vector([...locals, ...code])]),
  ]);
}

/** The part of the WebAssembly JS API used here (Node's types declare no value for it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer };
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is not available. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    const bytes = kernelBytes();
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/** Bytes of one WebAssembly page. */
const WASM_PAGE = 65536;
/** The largest region placed in WebAssembly memory: 4 GiB less a page, so no address wraps. */
export const MAX_WASM_REGION = 65535 * WASM_PAGE;

/** A block of RAM in its own WebAssembly memory, with the SIMD kernel bound to it. */
export interface ScannableRegion {
  readonly bytes: Uint8Array;
  /** Whether `bytes[offset, offset + length)` are all zero. */
  isZero(offset: number, length: number): boolean;
}

/**
 * Allocate `size` zeroed bytes in a WebAssembly memory with the kernel bound to them, or
 * undefined when the platform has no WebAssembly SIMD or `size` is over 4 GiB.
 */
export function allocateScannable(size: number): ScannableRegion | undefined {
  const module = kernelModule();
  if (wasm === undefined || module === null || size <= 0 || size > MAX_WASM_REGION) return undefined;
  const pages = Math.ceil(size / WASM_PAGE);
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const instance = new wasm.Instance(module, { env: { memory } });
  const kernel = instance.exports['isZero'] as (p: number, n: number) => number;
  const bytes = new Uint8Array(memory.buffer, 0, size);
  return {
    bytes,
    isZero(offset, length) {
      if (offset < 0 || length < 0 || offset + length > size) throw new RangeError(`scan of ${offset}+${length} outside a ${size}-byte region`);
      const whole = length - (length % BLOCK);
      // The kernel takes whole 256-byte blocks; a tail (never for whole pages) is checked here.
      if (whole > 0 && kernel(offset, whole) === 0) return false;
      return whole === length || isZeroRange(bytes, offset + whole, length - whole);
    },
  };
}
