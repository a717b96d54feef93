import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import type { Destination } from '../../src/migration/destination.js';
import { StreamError, StreamReader, StreamWriter, type StreamRecord } from '../../src/migration/stream.js';
import { migrate } from '../../src/sim/migrate.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination, lostPages, RAM, usedDestination } from './support.js';

/** The bytes of one whole migration of a small busy guest. */
function recordStream(seed: number, strategies = 'zero+hint'): Uint8Array[] {
  const vm = busyGuest(seed);
  vm.run(10);
  const chunks: Uint8Array[] = [];
  migrate(vm, freshDestination(seed), { strategies, tamper: (c) => (chunks.push(c.slice()), c) });
  return chunks;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

/** Feed `bytes` to a destination in pieces; return the error, or undefined if it applied. */
function deliver(destination: Destination, bytes: Uint8Array, pieces = 7): StreamError | undefined {
  const incoming = destination.incoming();
  const step = Math.ceil(bytes.length / pieces);
  for (let at = 0; at < bytes.length; at += step) incoming.push(bytes.subarray(at, at + step));
  try {
    incoming.finish();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(StreamError);
    return e as StreamError;
  }
}

/** Watch a destination's memory for writes: its dirty log counts every one. */
function watch(destination: Destination): () => number {
  destination.memory.dirtyLog.enable();
  return () => destination.memory.dirtyLog.count();
}

const stream = concat(recordStream(21));

describe('the migration stream', () => {
  it('round-trips every record type', () => {
    const chunks: Uint8Array[] = [];
    const w = new StreamWriter((c) => chunks.push(c));
    const page = new Uint8Array(PAGE_SIZE).fill(3);
    w.header(RAM);
    w.round(1);
    w.page(0x5000, page);
    w.zero(2 ** 40);
    w.zero(0x8000, 7);
    w.fill(0x10000, 3, 0xaa);
    w.pattern(0x20000, 0xdeadbeef, [
      { count: 2, version: 12 },
      { count: 1, version: 0 },
      { count: 0xffffffff, version: 0xffffffff },
    ]);
    w.device('balloon', { a: [1, 2], b: 'x' });
    w.end();
    const got: StreamRecord[] = [];
    const r = new StreamReader((rec) => got.push(rec));
    r.push(concat(chunks));
    r.finish();
    expect(got).toEqual([
      { type: 'HEADER', ramBytes: RAM },
      { type: 'ROUND', round: 1 },
      { type: 'PAGE', gpa: 0x5000, data: page },
      { type: 'ZERO', gpa: 2 ** 40, count: 1 },
      { type: 'ZERO', gpa: 0x8000, count: 7 },
      { type: 'FILL', gpa: 0x10000, count: 3, byte: 0xaa },
      {
        type: 'PATTERN',
        gpa: 0x20000,
        seed: 0xdeadbeef,
        runs: [
          { count: 2, version: 12 },
          { count: 1, version: 0 },
          { count: 0xffffffff, version: 0xffffffff },
        ],
      },
      { type: 'DEVICE', name: 'balloon', state: { a: [1, 2], b: 'x' } },
      { type: 'END', records: 8 },
    ]);
    expect(w.bytes).toBe(concat(chunks).length);
  });

  it('is byte-identical for the same scenario and seed (I7), and differs for another seed', () => {
    const hash = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
    expect(hash(concat(recordStream(21)))).toBe(hash(stream));
    expect(hash(concat(recordStream(22)))).not.toBe(hash(stream));
  });

  it('is accepted whole when nothing went wrong, and then the destination is written', () => {
    const destination = freshDestination(21);
    const written = watch(destination);
    expect(deliver(destination, stream)).toBeUndefined();
    expect(written()).toBeGreaterThan(0);
    expect(destination.fresh).toBe(false);
  });

  it('truncated anywhere: rejected, destination untouched', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: stream.length - 1 }), (cut) => {
        const destination = usedDestination();
        const written = watch(destination);
        const error = deliver(destination, stream.subarray(0, cut));
        expect(error).toBeDefined();
        expect(written()).toBe(0);
        expect(destination.fresh).toBe(false);
      }),
      { numRuns: runs(60) },
    );
  });

  it('any flipped bit: rejected with the record named, destination untouched', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: stream.length * 8 - 1 }), (bit) => {
        const bytes = stream.slice();
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        const destination = freshDestination(21);
        const written = watch(destination);
        const error = deliver(destination, bytes);
        expect(error).toBeDefined();
        expect(error!.message).toMatch(/^record -?\d+: /);
        expect(destination.fresh).toBe(true);
        expect(written()).toBe(0);
      }),
      { numRuns: runs(200) },
    );
  });

  it('well-formed records that do not fit the destination: rejected whole, destination untouched', () => {
    const bad: Array<(w: StreamWriter) => void> = [
      (w) => w.zero(0, 0), // an empty run
      (w) => w.fill(RAM - PAGE_SIZE, 2, 0xaa), // a run past the end of RAM
      (w) => w.zero(RAM, 1), // a zero page past the end
      (w) => w.pattern(PAGE_SIZE + 1, 1, [{ count: 1, version: 1 }]), // not page-aligned
      (w) => w.pattern(0, 1, []), // no runs
      (w) => w.pattern(0, 1, [{ count: 0, version: 1 }]), // a run of no pages
      (w) =>
        w.pattern(RAM - PAGE_SIZE, 1, [
          { count: 1, version: 1 },
          { count: 1, version: 2 },
        ]), // runs past the end of RAM
    ];
    for (const record of bad) {
      const chunks: Uint8Array[] = [];
      const w = new StreamWriter((c) => chunks.push(c));
      w.header(RAM);
      w.fill(0, 4, 0x11);
      record(w);
      w.end();
      const destination = freshDestination(1);
      const written = watch(destination);
      expect(deliver(destination, concat(chunks))?.kind).toBe('bad-record');
      expect(written()).toBe(0);
      expect(destination.fresh).toBe(true);
    }
  });

  it('records in the wrong order, or bytes after the end: rejected', () => {
    const chunks = recordStream(23, 'zero');
    const swapped = [...chunks];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    expect(deliver(freshDestination(23), concat(swapped))?.kind).toBe('bad-sequence');
    expect(deliver(freshDestination(23), concat([...chunks, chunks[1]!]))?.kind).toBe('after-end');
  });

  it('a cancelled attempt leaves the destination untouched, and the retry to it loses nothing', () => {
    const vm = busyGuest(31);
    const destination = usedDestination();
    const written = watch(destination);
    const cancelled = migrate(vm, destination, { strategies: 'zero+zero-skip+hint', cancelAfterMs: 3 });
    expect(cancelled.result.status).toBe('cancelled');
    expect(cancelled.error).toBeInstanceOf(StreamError);
    expect(written()).toBe(0);
    vm.run(5);
    const retry = migrate(vm, destination, { strategies: 'zero+zero-skip+hint' });
    expect(retry.error).toBeUndefined();
    // The destination is not known to be zero: nothing was skipped.
    expect(retry.result.skippedZeroPages).toBe(0);
    expect(lostPages(vm, destination)).toEqual([]);
  });
});
