/** The stream decoding property: well-formed, mangled and random streams, split anywhere, fed to a destination. */
import fc from 'fast-check';
import { CompactMemory } from '../memory/compact/compact-memory.js';
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { Destination } from '../migration/destination.js';
import { StreamError, StreamWriter } from '../migration/stream.js';
import { ViolationError, type Violation } from './violation.js';

const RAM = 64 * PAGE_SIZE;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One record a well-formed stream may hold (in RAM or not: the destination decides). */
const record: fc.Arbitrary<(w: StreamWriter) => void> = fc.oneof(
  fc.record({ pfn: fc.nat(70), data: fc.uint8Array({ minLength: PAGE_SIZE, maxLength: PAGE_SIZE }) }).map(
    ({ pfn, data }) =>
      (w: StreamWriter) =>
        void w.page(pfn * PAGE_SIZE, data),
  ),
  fc.record({ pfn: fc.nat(70), count: fc.integer({ min: 0, max: 80 }) }).map(
    ({ pfn, count }) =>
      (w: StreamWriter) =>
        void w.zero(pfn * PAGE_SIZE, count),
  ),
  fc.record({ pfn: fc.nat(70), count: fc.integer({ min: 0, max: 80 }), byte: fc.nat(255) }).map(
    ({ pfn, count, byte }) =>
      (w: StreamWriter) =>
        void w.fill(pfn * PAGE_SIZE, count, byte),
  ),
  fc.record({ pfn: fc.nat(70), runs: fc.array(fc.record({ count: fc.nat(8), version: fc.nat() }), { maxLength: 4 }) }).map(
    ({ pfn, runs }) =>
      (w: StreamWriter) =>
        void w.pattern(pfn * PAGE_SIZE, 7, runs),
  ),
  fc.record({ name: fc.string({ maxLength: 8 }), state: fc.jsonValue({ maxDepth: 2 }) }).map(
    ({ name, state }) =>
      (w: StreamWriter) =>
        void w.device(name, state),
  ),
  fc.nat(100).map((round) => (w: StreamWriter) => void w.round(round)),
);

/** Bytes a destination might receive: a stream made by the writer, then maybe mangled. */
export const migrationStreamBytes: fc.Arbitrary<Uint8Array> = fc
  .record({
    ramBytes: fc.constantFrom(RAM, RAM + PAGE_SIZE),
    records: fc.array(record, { maxLength: 12 }),
    end: fc.boolean(),
    mangle: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constant('flip' as const), bit: fc.nat() }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 32 }) }),
      fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 256 }) }),
    ),
  })
  .map(({ ramBytes, records, end, mangle }) => {
    const chunks: Uint8Array[] = [];
    const w = new StreamWriter((c) => chunks.push(c));
    w.header(ramBytes);
    for (const r of records) r(w);
    if (end) w.end();
    const bytes = concat(chunks);
    switch (mangle.kind) {
      case 'none':
        return bytes;
      case 'flip': {
        const out = Uint8Array.from(bytes);
        const bit = mangle.bit % (out.length * 8);
        out[bit >> 3]! ^= 1 << (bit & 7);
        return out;
      }
      case 'cut':
        return bytes.subarray(0, mangle.at % (bytes.length + 1));
      case 'splice': {
        const at = mangle.at % (bytes.length + 1);
        return concat([bytes.subarray(0, at), mangle.bytes, bytes.subarray(at)]);
      }
      case 'random':
        return mangle.bytes;
    }
  });

/** What the check needs of a destination: Destination, or yours. */
export interface StreamReceiver {
  incoming(): { push(chunk: Uint8Array): void; finish(): unknown };
}

/**
 * Decode `bytes` (delivered in `pieces`) into a fresh destination and check the rules: the
 * stream is applied whole or rejected with a StreamError, nothing else escapes, and a rejected
 * stream leaves the destination's memory untouched. Returns the violations.
 */
export function checkStreamDecoding(bytes: Uint8Array, pieces: readonly number[] = [], makeReceiver: (memory: GuestMemory) => StreamReceiver = (m) => new Destination(m)): Violation[] {
  const memory = new CompactMemory({ regions: RAM, patternSeed: 7 });
  memory.dirtyLog.enable();
  const incoming = makeReceiver(memory).incoming();
  const violations: Violation[] = [];
  try {
    let at = 0;
    for (const n of [...pieces, bytes.length]) {
      incoming.push(bytes.subarray(at, Math.min(bytes.length, at + Math.max(1, n))));
      at = Math.min(bytes.length, at + Math.max(1, n));
      if (at >= bytes.length) break;
    }
    incoming.finish();
  } catch (error) {
    if (!(error instanceof StreamError)) violations.push({ kind: 'threw', message: `decoding threw ${String(error)}` });
    else if (memory.dirtyLog.count() > 0) violations.push({ kind: 'inconsistent', message: `a rejected stream (${error.message}) wrote ${memory.dirtyLog.count()} pages` });
  }
  return violations;
}

/** The fuzz property: any bytes, split anywhere, decode by the rules of {@link checkStreamDecoding}. */
export function streamDecodingProperty(makeReceiver?: (memory: GuestMemory) => StreamReceiver): fc.IProperty<[Uint8Array, number[]]> {
  return fc.property(migrationStreamBytes, fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 4 }), (bytes, pieces) => {
    const violations = checkStreamDecoding(bytes, pieces, makeReceiver);
    if (violations.length > 0) throw new ViolationError(violations);
  });
}
