import { crc32 } from 'node:zlib';
import { PAGE_SIZE } from '../memory/guest-memory.js';
import type { PatternRun } from '../memory/page-pattern.js';

/** Record types of the migration stream. */
export const RecordType = {
  HEADER: 0,
  PAGE: 1,
  ZERO: 2,
  DEVICE: 3,
  ROUND: 4,
  END: 5,
  FILL: 6,
  PATTERN: 7,
} as const;
export type RecordTypeName = keyof typeof RecordType;

/** "FHMS": the first four payload bytes of the header record. */
export const STREAM_MAGIC = 0x534d4846;
export const STREAM_VERSION = 3;
/** type u8, sequence u32, payload length u32 before the payload; crc32 u32 after it. */
export const RECORD_OVERHEAD = 13;
/** Largest payload a decoder accepts: a page record (gpa + one page) or a device state. */
const MAX_PAYLOAD = 1 << 24;

/** A decoded, verified record. */
export type StreamRecord =
  | { readonly type: 'HEADER'; readonly ramBytes: number }
  | { readonly type: 'PAGE'; readonly gpa: number; readonly data: Uint8Array }
  /** `count` zero pages from `gpa`, found by zero detection (header-only on the wire). */
  | { readonly type: 'ZERO'; readonly gpa: number; readonly count: number }
  /** `count` whole pages from `gpa` that all hold one byte (sent whole; encoded compactly here). */
  | { readonly type: 'FILL'; readonly gpa: number; readonly count: number; readonly byte: number }
  /** Whole pages from `gpa` holding the simulated guest's patterns (seed, pfn, version), by id: runs of one version. */
  | { readonly type: 'PATTERN'; readonly gpa: number; readonly seed: number; readonly runs: readonly PatternRun[] }
  | { readonly type: 'DEVICE'; readonly name: string; readonly state: unknown }
  | { readonly type: 'ROUND'; readonly round: number }
  | { readonly type: 'END'; readonly records: number };

export type StreamErrorKind = 'bad-header' | 'bad-checksum' | 'bad-sequence' | 'bad-record' | 'truncated' | 'after-end';

/** Why a stream was rejected, naming the record (by sequence number) where it went wrong. */
export class StreamError extends Error {
  override readonly name = 'StreamError';
  constructor(
    readonly kind: StreamErrorKind,
    readonly record: number,
    message: string,
  ) {
    super(`record ${record}: ${message}`);
  }
}

/** Where encoded bytes go (a channel, a hash, a buffer). */
export type ByteSink = (chunk: Uint8Array) => void;

/**
 * Encodes the migration stream: a header, then page, zero, device, round records and an end
 * record, each with a sequence number and a CRC-32 so that a decoder can reject a truncated,
 * reordered or corrupted stream. Byte-for-byte deterministic for the same calls (I7).
 *
 * Pages whose content has a short exact description (one byte repeated, or a simulated guest's
 * pattern page) travel as that description and runs of pages as one record, so simulating a
 * large guest does not cost a copy of its RAM. This is the simulator's own encoding; what the
 * migration is charged on the wire is the engine's business (QEMU's record sizes).
 */
export class StreamWriter {
  private seq = 0;
  /** Bytes written so far. */
  bytes = 0;

  constructor(private readonly sink: ByteSink) {}

  header(ramBytes: number): number {
    const p = new DataView(new ArrayBuffer(14));
    p.setUint32(0, STREAM_MAGIC, true);
    p.setUint16(4, STREAM_VERSION, true);
    setU64(p, 6, ramBytes);
    return this.record(RecordType.HEADER, new Uint8Array(p.buffer));
  }

  page(gpa: number, data: Uint8Array): number {
    const payload = new Uint8Array(8 + PAGE_SIZE);
    setU64(new DataView(payload.buffer), 0, gpa);
    payload.set(data, 8);
    return this.record(RecordType.PAGE, payload);
  }

  zero(gpa: number, count = 1): number {
    const p = new DataView(new ArrayBuffer(12));
    setU64(p, 0, gpa);
    p.setUint32(8, count, true);
    return this.record(RecordType.ZERO, new Uint8Array(p.buffer));
  }

  fill(gpa: number, count: number, byte: number): number {
    const p = new DataView(new ArrayBuffer(13));
    setU64(p, 0, gpa);
    p.setUint32(8, count, true);
    p.setUint8(12, byte);
    return this.record(RecordType.FILL, new Uint8Array(p.buffer));
  }

  /** Pattern pages from `gpa` on, as runs of pages that hold one version (count u32, version u32 each). */
  pattern(gpa: number, seed: number, runs: readonly PatternRun[]): number {
    const p = new DataView(new ArrayBuffer(12 + 8 * runs.length));
    setU64(p, 0, gpa);
    p.setUint32(8, seed, true);
    runs.forEach((run, i) => {
      p.setUint32(12 + 8 * i, run.count, true);
      p.setUint32(16 + 8 * i, run.version, true);
    });
    return this.record(RecordType.PATTERN, new Uint8Array(p.buffer));
  }

  device(name: string, state: unknown): number {
    const nameBytes = new TextEncoder().encode(name);
    const json = new TextEncoder().encode(JSON.stringify(state));
    const payload = new Uint8Array(2 + nameBytes.length + json.length);
    new DataView(payload.buffer).setUint16(0, nameBytes.length, true);
    payload.set(nameBytes, 2);
    payload.set(json, 2 + nameBytes.length);
    return this.record(RecordType.DEVICE, payload);
  }

  round(round: number): number {
    const p = new DataView(new ArrayBuffer(4));
    p.setUint32(0, round, true);
    return this.record(RecordType.ROUND, new Uint8Array(p.buffer));
  }

  end(): number {
    const p = new DataView(new ArrayBuffer(4));
    p.setUint32(0, this.seq, true);
    return this.record(RecordType.END, new Uint8Array(p.buffer));
  }

  /** Write one record; returns its size in bytes. */
  private record(type: number, payload: Uint8Array): number {
    const out = new Uint8Array(RECORD_OVERHEAD + payload.length);
    const v = new DataView(out.buffer);
    v.setUint8(0, type);
    v.setUint32(1, this.seq++, true);
    v.setUint32(5, payload.length, true);
    out.set(payload, 9);
    v.setUint32(9 + payload.length, crc32(out.subarray(0, 9 + payload.length)), true);
    this.bytes += out.length;
    this.sink(out);
    return out.length;
  }
}

/**
 * Decodes a stream incrementally and hands each record on only once its checksum, sequence
 * number, type and length are verified. {@link finish} rejects a stream that ended early.
 */
export class StreamReader {
  private pending = new Uint8Array(0);
  private seq = 0;
  private ended = false;

  constructor(private readonly onRecord: (record: StreamRecord) => void) {}

  push(chunk: Uint8Array): void {
    let joined = chunk;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: joining an empty remainder gives the same bytes; the test only saves a copy
    if (this.pending.length > 0) {
      joined = new Uint8Array(this.pending.length + chunk.length);
      joined.set(this.pending);
      joined.set(chunk, this.pending.length);
    }
    let at = 0;
    while (!this.ended && joined.length - at >= 9) {
      const v = new DataView(joined.buffer, joined.byteOffset + at);
      const length = v.getUint32(5, true);
      if (length > MAX_PAYLOAD) throw new StreamError('bad-record', this.seq, `payload of ${length} bytes is larger than any record`);
      if (joined.length - at < RECORD_OVERHEAD + length) break;
      const bytes = joined.subarray(at, at + RECORD_OVERHEAD + length);
      this.decode(bytes);
      at += bytes.length;
    }
    if (this.ended && at < joined.length) throw new StreamError('after-end', this.seq, 'bytes after the end record');
    this.pending = joined.slice(at);
  }

  /** The stream is over: it must have ended with a verified END record. */
  finish(): void {
    if (!this.ended) throw new StreamError('truncated', this.seq, `stream ended after ${this.seq} records without an end record`);
  }

  private decode(bytes: Uint8Array): void {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = this.seq;
    const length = bytes.length - RECORD_OVERHEAD;
    if (v.getUint32(9 + length, true) !== crc32(bytes.subarray(0, 9 + length))) throw new StreamError('bad-checksum', n, 'checksum mismatch');
    if (v.getUint32(1, true) !== n) throw new StreamError('bad-sequence', n, `sequence number ${v.getUint32(1, true)} where ${n} was due`);
    const type = v.getUint8(0);
    const p = new DataView(bytes.buffer, bytes.byteOffset + 9, length);
    const record = this.parse(type, p, n);
    if (n === 0 && record.type !== 'HEADER') throw new StreamError('bad-header', n, 'the stream does not start with a header');
    if (n > 0 && record.type === 'HEADER') throw new StreamError('bad-record', n, 'a second header');
    this.seq++;
    if (record.type === 'END') {
      if (record.records !== n) throw new StreamError('bad-record', n, `end record counts ${record.records} records, ${n} came`);
      this.ended = true;
    }
    this.onRecord(record);
  }

  private parse(type: number, p: DataView, n: number): StreamRecord {
    const need = (len: number): void => {
      if (p.byteLength !== len) throw new StreamError('bad-record', n, `record of type ${type} has ${p.byteLength} payload bytes, not ${len}`);
    };
    switch (type) {
      case RecordType.HEADER:
        need(14);
        if (p.getUint32(0, true) !== STREAM_MAGIC || p.getUint16(4, true) !== STREAM_VERSION) throw new StreamError('bad-header', n, 'not a freehint stream of a known version');
        return { type: 'HEADER', ramBytes: getU64(p, 6, n) };
      case RecordType.PAGE:
        need(8 + PAGE_SIZE);
        return { type: 'PAGE', gpa: getU64(p, 0, n), data: new Uint8Array(p.buffer, p.byteOffset + 8, PAGE_SIZE).slice() };
      case RecordType.ZERO:
        need(12);
        return { type: 'ZERO', gpa: getU64(p, 0, n), count: getCount(p, 8, n) };
      case RecordType.FILL:
        need(13);
        return { type: 'FILL', gpa: getU64(p, 0, n), count: getCount(p, 8, n), byte: p.getUint8(12) };
      case RecordType.PATTERN: {
        // Stryker disable next-line ArithmeticOperator: (length + 12) % 8 equals (length - 12) % 8
        if (p.byteLength < 20 || (p.byteLength - 12) % 8 !== 0) throw new StreamError('bad-record', n, `pattern record of ${p.byteLength} payload bytes`);
        const runs: PatternRun[] = [];
        for (let at = 12; at < p.byteLength; at += 8) runs.push({ count: getCount(p, at, n), version: p.getUint32(at + 4, true) });
        return { type: 'PATTERN', gpa: getU64(p, 0, n), seed: p.getUint32(8, true), runs };
      }
      case RecordType.DEVICE: {
        const nameLength = p.byteLength >= 2 ? p.getUint16(0, true) : Number.POSITIVE_INFINITY;
        if (2 + nameLength > p.byteLength) throw new StreamError('bad-record', n, 'device record too short for its name');
        const decoder = new TextDecoder('utf-8', { fatal: true });
        try {
          const name = decoder.decode(new Uint8Array(p.buffer, p.byteOffset + 2, nameLength));
          const state: unknown = JSON.parse(decoder.decode(new Uint8Array(p.buffer, p.byteOffset + 2 + nameLength, p.byteLength - 2 - nameLength)));
          return { type: 'DEVICE', name, state };
        } catch {
          throw new StreamError('bad-record', n, 'device state is not valid UTF-8 JSON');
        }
      }
      case RecordType.ROUND:
        need(4);
        return { type: 'ROUND', round: p.getUint32(0, true) };
      case RecordType.END:
        need(4);
        return { type: 'END', records: p.getUint32(0, true) };
      default:
        throw new StreamError('bad-record', n, `unknown record type ${type}`);
    }
  }
}

function setU64(v: DataView, at: number, value: number): void {
  v.setUint32(at, value % 0x1_0000_0000, true);
  v.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** A run length: at least one page (whether the run fits in RAM is the destination's check). */
function getCount(v: DataView, at: number, n: number): number {
  const count = v.getUint32(at, true);
  if (count === 0) throw new StreamError('bad-record', n, 'a run of zero pages');
  return count;
}

function getU64(v: DataView, at: number, n: number): number {
  const high = v.getUint32(at + 4, true);
  if (high > 0x1fffff) throw new StreamError('bad-record', n, 'a 64-bit value above 2^53');
  return high * 0x1_0000_0000 + v.getUint32(at, true);
}
