/** The migration stream: checksummed records, their writer and their reader. */
import { PAGE_SIZE, type PatternRun } from '../memory/guest-memory.js';
import { crc32 } from './crc32.js';

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
/** The stream format's version, in the header record; a reader refuses any other. */
export const STREAM_VERSION = 3;
/** type u8, sequence u32, payload length u32 before the payload; crc32 u32 after it. */
export const RECORD_OVERHEAD = 13;
/** Where a record's payload starts. */
const PAYLOAD = 9;
/** Largest payload a decoder accepts: a page record (gpa + one page) or a device state. */
const MAX_PAYLOAD = 1 << 24;
const NO_BYTES = new Uint8Array(0);

/** A decoded, verified record. */
export type StreamRecord =
  | { readonly type: 'HEADER'; readonly ramBytes: number }
  | { readonly type: 'PAGE'; readonly gpa: number; readonly data: Uint8Array }
  /** `count` zero pages from `gpa`, found by zero detection (header-only on the wire). */
  | { readonly type: 'ZERO'; readonly gpa: number; readonly count: number }
  /** A described-page record: `count` whole pages from `gpa` that all hold one byte (charged as sent whole; encoded by description here). */
  | { readonly type: 'FILL'; readonly gpa: number; readonly count: number; readonly byte: number }
  /** A described-page record: whole pages from `gpa` holding the simulated guest's patterns (seed, pfn, version), as runs of one version. */
  | { readonly type: 'PATTERN'; readonly gpa: number; readonly seed: number; readonly runs: readonly PatternRun[] }
  | { readonly type: 'DEVICE'; readonly name: string; readonly state: unknown }
  | { readonly type: 'ROUND'; readonly round: number }
  | { readonly type: 'END'; readonly records: number };

/** Why a reader refused a stream. */
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
 * Described pages — whose content has a short exact description (one byte repeated, or a
 * simulated guest's pattern page; see `memory/described-pages.ts`) — travel as FILL and PATTERN
 * records, runs of pages in one record, so simulating a large guest does not cost a copy of
 * its RAM. This is the simulator's own encoding; what the migration is charged on the wire is
 * the engine's business (QEMU's record sizes: a described page is charged as a whole page).
 */
export class StreamWriter {
  private seq = 0;
  /** Bytes written so far. */
  bytes = 0;

  constructor(private readonly sink: ByteSink) {}

  /** Records written so far (a run of pages in one record counts once). */
  get records(): number {
    return this.seq;
  }

  header(ramBytes: number): number {
    const out = this.begin(RecordType.HEADER, 14);
    putU32(out, PAYLOAD, STREAM_MAGIC);
    putU16(out, PAYLOAD + 4, STREAM_VERSION);
    putU64(out, PAYLOAD + 6, ramBytes);
    return this.seal(out);
  }

  page(gpa: number, data: Uint8Array): number {
    const out = this.begin(RecordType.PAGE, 8 + PAGE_SIZE);
    putU64(out, PAYLOAD, gpa);
    out.set(data.subarray(0, PAGE_SIZE), PAYLOAD + 8);
    return this.seal(out);
  }

  zero(gpa: number, count = 1): number {
    const out = this.begin(RecordType.ZERO, 12);
    putU64(out, PAYLOAD, gpa);
    putU32(out, PAYLOAD + 8, count);
    return this.seal(out);
  }

  fill(gpa: number, count: number, byte: number): number {
    const out = this.begin(RecordType.FILL, 13);
    putU64(out, PAYLOAD, gpa);
    putU32(out, PAYLOAD + 8, count);
    out[PAYLOAD + 12] = byte;
    return this.seal(out);
  }

  /** Pattern pages from `gpa` on, as runs of pages that hold one version (count u32, version u32 each). */
  pattern(gpa: number, seed: number, runs: readonly PatternRun[]): number {
    const out = this.begin(RecordType.PATTERN, 12 + 8 * runs.length);
    putU64(out, PAYLOAD, gpa);
    putU32(out, PAYLOAD + 8, seed);
    for (let i = 0, at = PAYLOAD + 12; i < runs.length; i++, at += 8) {
      putU32(out, at, runs[i]!.count);
      putU32(out, at + 4, runs[i]!.version);
    }
    return this.seal(out);
  }

  device(name: string, state: unknown): number {
    const nameBytes = new TextEncoder().encode(name);
    const json = new TextEncoder().encode(JSON.stringify(state));
    const out = this.begin(RecordType.DEVICE, 2 + nameBytes.length + json.length);
    putU16(out, PAYLOAD, nameBytes.length);
    out.set(nameBytes, PAYLOAD + 2);
    out.set(json, PAYLOAD + 2 + nameBytes.length);
    return this.seal(out);
  }

  round(round: number): number {
    const out = this.begin(RecordType.ROUND, 4);
    putU32(out, PAYLOAD, round);
    return this.seal(out);
  }

  end(): number {
    const records = this.seq; // the records before this one
    const out = this.begin(RecordType.END, 4);
    putU32(out, PAYLOAD, records);
    return this.seal(out);
  }

  /** A record of `length` payload bytes with its header written; the caller fills the payload. */
  private begin(type: number, length: number): Uint8Array {
    const out = new Uint8Array(RECORD_OVERHEAD + length);
    out[0] = type;
    putU32(out, 1, this.seq++);
    putU32(out, 5, length);
    return out;
  }

  /** Seal a record with its checksum and write it; returns its size in bytes. */
  private seal(out: Uint8Array): number {
    const crcAt = out.length - 4;
    putU32(out, crcAt, crc32(out.subarray(0, crcAt)));
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
  private pending = NO_BYTES;
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
    // Stryker disable next-line ConditionalExpression,ArithmeticOperator: short of 9 bytes the length reads short (bytes past the end read as 0) and the size check below stops the loop all the same
    while (!this.ended && joined.length - at >= PAYLOAD) {
      const length = getU32(joined, at + 5);
      if (length > MAX_PAYLOAD) throw new StreamError('bad-record', this.seq, `payload of ${length} bytes is larger than any record`);
      if (joined.length - at < RECORD_OVERHEAD + length) break;
      const bytes = joined.subarray(at, at + RECORD_OVERHEAD + length);
      this.decode(bytes);
      at += bytes.length;
    }
    if (this.ended && at < joined.length) throw new StreamError('after-end', this.seq, 'bytes after the end record');
    // Stryker disable next-line ConditionalExpression: an empty copy of nothing is the same remainder; the test only saves an allocation per record
    // A copy, not a view of the caller's memory.
    this.pending = at === joined.length ? NO_BYTES : new Uint8Array(joined.subarray(at));
  }

  /** The stream is over: it must have ended with a verified END record. */
  finish(): void {
    if (!this.ended) throw new StreamError('truncated', this.seq, `stream ended after ${this.seq} records without an end record`);
  }

  private decode(bytes: Uint8Array): void {
    const n = this.seq;
    const crcAt = bytes.length - 4;
    if (getU32(bytes, crcAt) !== crc32(bytes.subarray(0, crcAt))) throw new StreamError('bad-checksum', n, 'checksum mismatch');
    if (getU32(bytes, 1) !== n) throw new StreamError('bad-sequence', n, `sequence number ${getU32(bytes, 1)} where ${n} was due`);
    const record = this.parse(bytes[0]!, bytes, n);
    if (n === 0 && record.type !== 'HEADER') throw new StreamError('bad-header', n, 'the stream does not start with a header');
    if (n > 0 && record.type === 'HEADER') throw new StreamError('bad-record', n, 'a second header');
    this.seq++;
    if (record.type === 'END') {
      if (record.records !== n) throw new StreamError('bad-record', n, `end record counts ${record.records} records, ${n} came`);
      this.ended = true;
    }
    this.onRecord(record);
  }

  /** The record in `bytes` (checksum and sequence verified), whose payload starts at {@link PAYLOAD}. */
  private parse(type: number, bytes: Uint8Array, n: number): StreamRecord {
    const length = bytes.length - RECORD_OVERHEAD;
    const need = (len: number): void => {
      if (length !== len) throw new StreamError('bad-record', n, `record of type ${type} has ${length} payload bytes, not ${len}`);
    };
    const p = PAYLOAD;
    switch (type) {
      case RecordType.HEADER:
        need(14);
        if (getU32(bytes, p) !== STREAM_MAGIC || getU16(bytes, p + 4) !== STREAM_VERSION) throw new StreamError('bad-header', n, 'not a freehint stream of a known version');
        return { type: 'HEADER', ramBytes: getU64(bytes, p + 6, n) };
      case RecordType.PAGE:
        need(8 + PAGE_SIZE);
        return { type: 'PAGE', gpa: getU64(bytes, p, n), data: new Uint8Array(bytes.subarray(p + 8, p + 8 + PAGE_SIZE)) };
      case RecordType.ZERO:
        need(12);
        return { type: 'ZERO', gpa: getU64(bytes, p, n), count: getCount(bytes, p + 8, n) };
      case RecordType.FILL:
        need(13);
        return { type: 'FILL', gpa: getU64(bytes, p, n), count: getCount(bytes, p + 8, n), byte: bytes[p + 12]! };
      case RecordType.PATTERN: {
        // Stryker disable next-line ArithmeticOperator: (length + 12) % 8 equals (length - 12) % 8
        if (length < 20 || (length - 12) % 8 !== 0) throw new StreamError('bad-record', n, `pattern record of ${length} payload bytes`);
        const runs: PatternRun[] = [];
        for (let at = p + 12; at < p + length; at += 8) runs.push({ count: getCount(bytes, at, n), version: getU32(bytes, at + 4) });
        return { type: 'PATTERN', gpa: getU64(bytes, p, n), seed: getU32(bytes, p + 8), runs };
      }
      case RecordType.DEVICE: {
        // Stryker disable next-line ConditionalExpression: under 2 bytes any name length is too long for the record, so the check below throws either way
        const nameLength = length >= 2 ? getU16(bytes, p) : Number.POSITIVE_INFINITY;
        if (2 + nameLength > length) throw new StreamError('bad-record', n, 'device record too short for its name');
        const decoder = new TextDecoder('utf-8', { fatal: true });
        try {
          const name = decoder.decode(bytes.subarray(p + 2, p + 2 + nameLength));
          const state: unknown = JSON.parse(decoder.decode(bytes.subarray(p + 2 + nameLength, p + length)));
          return { type: 'DEVICE', name, state };
        } catch {
          throw new StreamError('bad-record', n, 'device state is not valid UTF-8 JSON');
        }
      }
      case RecordType.ROUND:
        need(4);
        return { type: 'ROUND', round: getU32(bytes, p) };
      case RecordType.END:
        need(4);
        return { type: 'END', records: getU32(bytes, p) };
      default:
        throw new StreamError('bad-record', n, `unknown record type ${type}`);
    }
  }
}

// Little-endian fields, byte by byte: records are small, and a DataView per record costs more than they do.

function putU16(out: Uint8Array, at: number, value: number): void {
  out[at] = value;
  out[at + 1] = value >>> 8;
}

function putU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value;
  out[at + 1] = value >>> 8;
  out[at + 2] = value >>> 16;
  out[at + 3] = value >>> 24;
}

function putU64(out: Uint8Array, at: number, value: number): void {
  putU32(out, at, value % 0x1_0000_0000);
  putU32(out, at + 4, Math.floor(value / 0x1_0000_0000));
}

function getU16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function getU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** A run length: at least one page (whether the run fits in RAM is the destination's check). */
function getCount(bytes: Uint8Array, at: number, n: number): number {
  const count = getU32(bytes, at);
  if (count === 0) throw new StreamError('bad-record', n, 'a run of zero pages');
  return count;
}

function getU64(bytes: Uint8Array, at: number, n: number): number {
  const high = getU32(bytes, at + 4);
  if (high > 0x1fffff) throw new StreamError('bad-record', n, 'a 64-bit value above 2^53');
  return high * 0x1_0000_0000 + getU32(bytes, at);
}
