import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { RECORD_OVERHEAD, RecordType, STREAM_MAGIC, STREAM_VERSION, StreamError, StreamReader, StreamWriter, type StreamErrorKind, type StreamRecord } from '../../src/migration/stream.js';

// Each framing and payload rule of the stream, one hostile record at a time. The records are
// framed by hand (type u8, sequence u32, length u32, payload, CRC-32 of all before it), so a
// rule is tested on its own: the checksum and sequence are right unless the case is about them.

function frame(type: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_OVERHEAD + payload.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, type);
  v.setUint32(1, seq, true);
  v.setUint32(5, payload.length, true);
  out.set(payload, 9);
  v.setUint32(9 + payload.length, crc32(out.subarray(0, 9 + payload.length)), true);
  return out;
}

function bytes(build: (v: DataView) => void, length: number): Uint8Array {
  const p = new Uint8Array(length);
  build(new DataView(p.buffer));
  return p;
}

function header(ramBytes = 1 << 20, magic = STREAM_MAGIC, version = STREAM_VERSION): Uint8Array {
  return bytes((v) => {
    v.setUint32(0, magic, true);
    v.setUint16(4, version, true);
    v.setUint32(6, ramBytes, true);
  }, 14);
}

const u32 = (value: number): Uint8Array => bytes((v) => v.setUint32(0, value, true), 4);

/** gpa as two u32 halves, then `rest` bytes. */
function gpaPayload(low: number, high: number, rest: number, fill?: (v: DataView) => void): Uint8Array {
  return bytes((v) => {
    v.setUint32(0, low, true);
    v.setUint32(4, high, true);
    fill?.(v);
  }, 8 + rest);
}

function read(records: readonly Uint8Array[]): { got: StreamRecord[]; error: StreamError | undefined } {
  const got: StreamRecord[] = [];
  const reader = new StreamReader((r) => got.push(r));
  try {
    for (const r of records) reader.push(r);
    reader.finish();
    return { got, error: undefined };
  } catch (e) {
    if (!(e instanceof StreamError)) throw e;
    return { got, error: e };
  }
}

function rejects(records: readonly Uint8Array[], kind: StreamErrorKind, record: number, message: RegExp): StreamRecord[] {
  const { got, error } = read(records);
  expect(error, 'the stream must be rejected').toBeInstanceOf(StreamError);
  expect(error?.name).toBe('StreamError');
  expect(error?.kind).toBe(kind);
  expect(error?.record).toBe(record);
  expect(error?.message).toMatch(new RegExp(`^record ${record}: `));
  expect(error?.message).toMatch(message);
  return got;
}

const HEAD = frame(RecordType.HEADER, 0, header());

describe('stream framing rules', () => {
  it('a minimal stream (header, end) is accepted', () => {
    const { got, error } = read([HEAD, frame(RecordType.END, 1, u32(1))]);
    expect(error).toBeUndefined();
    expect(got).toEqual([
      { type: 'HEADER', ramBytes: 1 << 20 },
      { type: 'END', records: 1 },
    ]);
  });

  it('a wrong checksum is named as such, before anything else about the record', () => {
    const bad = frame(RecordType.ROUND, 5, u32(1)); // wrong sequence too: the checksum comes first
    bad[bad.length - 1]! ^= 0x80;
    rejects([HEAD, bad], 'bad-checksum', 1, /checksum mismatch/);
  });

  it('a record out of sequence names both numbers', () => {
    rejects([HEAD, frame(RecordType.ROUND, 2, u32(1))], 'bad-sequence', 1, /sequence number 2 where 1 was due/);
  });

  it('the first record must be a header, and there is only one', () => {
    rejects([frame(RecordType.ROUND, 0, u32(1))], 'bad-header', 0, /does not start with a header/);
    rejects([HEAD, frame(RecordType.HEADER, 1, header())], 'bad-record', 1, /a second header/);
  });

  it('a header with the wrong magic or version is not a stream of ours', () => {
    rejects([frame(RecordType.HEADER, 0, header(1 << 20, STREAM_MAGIC ^ 1))], 'bad-header', 0, /not a freehint stream of a known version/);
    rejects([frame(RecordType.HEADER, 0, header(1 << 20, STREAM_MAGIC, STREAM_VERSION + 1))], 'bad-header', 0, /known version/);
  });

  it('the end record must count the records before it', () => {
    rejects([HEAD, frame(RecordType.END, 1, u32(2))], 'bad-record', 1, /end record counts 2 records, 1 came/);
  });

  it('a stream without an end record is truncated, wherever it stops', () => {
    rejects([], 'truncated', 0, /stream ended after 0 records without an end record/);
    rejects([HEAD], 'truncated', 1, /after 1 records/);
    // Half a record is held back, not decoded, and the stream is still truncated.
    const round = frame(RecordType.ROUND, 1, u32(1));
    rejects([HEAD, round.subarray(0, 8)], 'truncated', 1, /after 1 records/);
    rejects([HEAD, round.subarray(0, round.length - 1)], 'truncated', 1, /after 1 records/);
  });

  it('records split at every byte boundary decode the same', () => {
    const whole = Buffer.concat([HEAD, frame(RecordType.ROUND, 1, u32(7)), frame(RecordType.END, 2, u32(2))]);
    for (let cut = 0; cut <= whole.length; cut++) {
      const got: StreamRecord[] = [];
      const reader = new StreamReader((r) => got.push(r));
      reader.push(whole.subarray(0, cut));
      reader.push(whole.subarray(cut));
      reader.finish();
      expect(got.map((r) => r.type)).toEqual(['HEADER', 'ROUND', 'END']);
    }
  });

  it('bytes after the end record are rejected, in the same chunk or a later one', () => {
    const end = frame(RecordType.END, 1, u32(1));
    rejects([HEAD, Buffer.concat([end, new Uint8Array([0])])], 'after-end', 2, /bytes after the end record/);
    rejects([HEAD, end, new Uint8Array([0])], 'after-end', 2, /bytes after the end record/);
    // An empty chunk after the end carries nothing and is fine.
    const { error } = read([HEAD, end, new Uint8Array(0)]);
    expect(error).toBeUndefined();
  });

  it('a length larger than any record is rejected from its 9-byte prefix alone', () => {
    const prefix = new Uint8Array(9);
    const v = new DataView(prefix.buffer);
    v.setUint8(0, RecordType.PAGE);
    v.setUint32(1, 1, true);
    v.setUint32(5, (1 << 24) + 1, true);
    rejects([HEAD, prefix], 'bad-record', 1, /payload of 16777217 bytes is larger than any record/);
    // Exactly the limit is a length a record may have: the reader waits for the bytes.
    v.setUint32(5, 1 << 24, true);
    rejects([HEAD, prefix], 'truncated', 1, /without an end record/);
  });
});

describe('stream payload rules', () => {
  it('each fixed-size record type must have exactly its size', () => {
    const cases: Array<[number, number, string]> = [
      [RecordType.HEADER, 14, 'HEADER'],
      [RecordType.PAGE, 8 + PAGE_SIZE, 'PAGE'],
      [RecordType.ZERO, 12, 'ZERO'],
      [RecordType.FILL, 13, 'FILL'],
      [RecordType.ROUND, 4, 'ROUND'],
      [RecordType.END, 4, 'END'],
    ];
    for (const [type, size] of cases) {
      const seq = type === RecordType.HEADER ? 0 : 1;
      const before = type === RecordType.HEADER ? [] : [HEAD];
      for (const wrong of [size - 1, size + 1]) {
        rejects([...before, frame(type, seq, new Uint8Array(wrong))], type === RecordType.HEADER ? 'bad-record' : 'bad-record', seq, new RegExp(`record of type ${type} has ${wrong} payload bytes, not ${size}`));
      }
    }
  });

  it('a page record carries its address and a copy of its bytes', () => {
    const payload = gpaPayload(0x5000, 1, PAGE_SIZE, (v) => {
      v.setUint8(8, 0xab);
      v.setUint8(8 + PAGE_SIZE - 1, 0xcd);
    });
    const record = frame(RecordType.PAGE, 1, payload);
    const { got } = read([HEAD, record, frame(RecordType.END, 2, u32(2))]);
    const page = got[1] as Extract<StreamRecord, { type: 'PAGE' }>;
    expect(page.gpa).toBe(2 ** 32 + 0x5000);
    expect(page.data.length).toBe(PAGE_SIZE);
    expect(page.data[0]).toBe(0xab);
    expect(page.data[PAGE_SIZE - 1]).toBe(0xcd);
    record.fill(0); // the record owns its bytes: later changes to the input do not reach it
    expect(page.data[0]).toBe(0xab);
    // Likewise from a Buffer (whose slice is a view), and for a record split across pushes.
    const buffer = Buffer.from(frame(RecordType.PAGE, 1, payload));
    const split: StreamRecord[] = [];
    const reader = new StreamReader((r) => split.push(r));
    reader.push(HEAD);
    reader.push(buffer.subarray(0, 100));
    buffer.fill(0, 0, 100); // the caller reuses its buffer before the rest arrives
    reader.push(Buffer.from(frame(RecordType.PAGE, 1, payload)).subarray(100));
    const whole = Buffer.from(frame(RecordType.PAGE, 2, payload));
    reader.push(whole);
    whole.fill(0);
    expect(split.map((r) => r.type === 'PAGE' && [r.gpa, r.data[0], r.data[PAGE_SIZE - 1]])).toEqual([false, [2 ** 32 + 0x5000, 0xab, 0xcd], [2 ** 32 + 0x5000, 0xab, 0xcd]]);
  });

  it('64-bit values above 2^53 are rejected, 2^53 - 1 is not', () => {
    rejects(
      [
        HEAD,
        frame(
          RecordType.ZERO,
          1,
          gpaPayload(0, 0x200000, 4, (v) => v.setUint32(8, 1, true)),
        ),
      ],
      'bad-record',
      1,
      /a 64-bit value above 2\^53/,
    );
    const { got, error } = read([
      HEAD,
      frame(
        RecordType.ZERO,
        1,
        gpaPayload(0xffffffff, 0x1fffff, 4, (v) => v.setUint32(8, 1, true)),
      ),
      frame(RecordType.END, 2, u32(2)),
    ]);
    expect(error).toBeUndefined();
    expect(got[1]).toEqual({ type: 'ZERO', gpa: Number.MAX_SAFE_INTEGER, count: 1 });
  });

  it('runs must hold at least one page', () => {
    rejects([HEAD, frame(RecordType.ZERO, 1, gpaPayload(0, 0, 4))], 'bad-record', 1, /a run of zero pages/);
    rejects([HEAD, frame(RecordType.FILL, 1, gpaPayload(0, 0, 5))], 'bad-record', 1, /a run of zero pages/);
    const { got } = read([
      HEAD,
      frame(
        RecordType.FILL,
        1,
        gpaPayload(0x3000, 0, 5, (v) => (v.setUint32(8, 2, true), v.setUint8(12, 0x5a))),
      ),
      frame(RecordType.END, 2, u32(2)),
    ]);
    expect(got[1]).toEqual({ type: 'FILL', gpa: 0x3000, count: 2, byte: 0x5a });
  });

  it('a pattern record holds a gpa, a seed and at least one whole run (a count of at least one page, a 32-bit version)', () => {
    for (const size of [12, 16, 19, 21, 24]) rejects([HEAD, frame(RecordType.PATTERN, 1, new Uint8Array(size))], 'bad-record', 1, new RegExp(`pattern record of ${size} payload bytes`));
    const runs =
      (...pairs: number[]) =>
      (v: DataView) => {
        v.setUint32(8, 9, true);
        pairs.forEach((x, i) => v.setUint32(12 + 4 * i, x, true));
      };
    rejects([HEAD, frame(RecordType.PATTERN, 1, gpaPayload(0x1000, 0, 20, runs(3, 4, 0, 5)))], 'bad-record', 1, /a run of zero pages/);
    const { got } = read([HEAD, frame(RecordType.PATTERN, 1, gpaPayload(0x1000, 0, 20, runs(3, 4, 1, 0xffffffff))), frame(RecordType.END, 2, u32(2))]);
    expect(got[1]).toEqual({
      type: 'PATTERN',
      gpa: 0x1000,
      seed: 9,
      runs: [
        { count: 3, version: 4 },
        { count: 1, version: 0xffffffff },
      ],
    });
  });

  it('a device record needs room for its name, and UTF-8 JSON state', () => {
    const device = (name: Uint8Array, state: Uint8Array): Uint8Array => {
      const p = new Uint8Array(2 + name.length + state.length);
      new DataView(p.buffer).setUint16(0, name.length, true);
      p.set(name, 2);
      p.set(state, 2 + name.length);
      return p;
    };
    const text = (s: string): Uint8Array => new TextEncoder().encode(s);
    rejects([HEAD, frame(RecordType.DEVICE, 1, new Uint8Array(1))], 'bad-record', 1, /device record too short for its name/);
    rejects([HEAD, frame(RecordType.DEVICE, 1, device(text('balloon'), text('{}')).subarray(0, 8))], 'bad-record', 1, /too short for its name/);
    rejects([HEAD, frame(RecordType.DEVICE, 1, device(text('b'), text('{')))], 'bad-record', 1, /device state is not valid UTF-8 JSON/);
    rejects([HEAD, frame(RecordType.DEVICE, 1, device(new Uint8Array([0xff]), text('{}')))], 'bad-record', 1, /not valid UTF-8/);
    rejects([HEAD, frame(RecordType.DEVICE, 1, device(text('b'), new Uint8Array([0x22, 0xc3, 0x22])))], 'bad-record', 1, /not valid UTF-8/);
    // The name may fill the record exactly (even an empty name); then the state is empty, not JSON.
    rejects([HEAD, frame(RecordType.DEVICE, 1, device(new Uint8Array(0), new Uint8Array(0)))], 'bad-record', 1, /not valid UTF-8 JSON/);
    rejects([HEAD, frame(RecordType.DEVICE, 1, device(text('b'), new Uint8Array(0)))], 'bad-record', 1, /not valid UTF-8 JSON/);
    const { got } = read([HEAD, frame(RecordType.DEVICE, 1, device(text('balloon'), text('{"n":1}'))), frame(RecordType.END, 2, u32(2))]);
    expect(got[1]).toEqual({ type: 'DEVICE', name: 'balloon', state: { n: 1 } });
  });

  it('an unknown record type is named', () => {
    rejects([HEAD, frame(8, 1, new Uint8Array(4))], 'bad-record', 1, /unknown record type 8/);
  });

  it('what the writer writes, the rules accept', () => {
    const chunks: Uint8Array[] = [];
    const w = new StreamWriter((c) => chunks.push(c));
    w.header(1 << 20);
    w.device('', null);
    w.pattern(0, 1, [{ count: 1, version: 2 }]);
    w.end();
    const { got, error } = read(chunks);
    expect(error).toBeUndefined();
    expect(got.map((r) => r.type)).toEqual(['HEADER', 'DEVICE', 'PATTERN', 'END']);
    expect(w.bytes).toBe(chunks.reduce((n, c) => n + c.length, 0));
  });
});
