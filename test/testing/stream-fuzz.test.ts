import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { Destination } from '../../src/migration/destination.js';
import { StreamReader } from '../../src/migration/stream.js';
import { streamDecodingProperty, type StreamReceiver } from '../../src/testing/stream-fuzz.js';
import { runs } from '../support/runs.js';

/** The broken twin: a receiver that writes each page as it arrives instead of at a verified end. */
function eagerReceiver(memory: GuestMemory): StreamReceiver {
  return {
    incoming() {
      const staged = new Destination(memory).incoming();
      const reader = new StreamReader((r) => {
        if (r.type === 'PAGE' && memory.contains(r.gpa, r.data.length)) memory.write(r.gpa, r.data);
      });
      return {
        push(chunk) {
          try {
            reader.push(chunk);
          } catch {
            // the real decoder below reports it
          }
          staged.push(chunk);
        },
        finish: () => staged.finish(),
      };
    },
  };
}

describe('migration stream decoding under fuzzing', () => {
  it('applies a stream whole or rejects it with a StreamError, leaving memory untouched', () => {
    fc.assert(streamDecodingProperty(), { numRuns: runs(500) });
  });

  it('catches a destination that writes pages before the stream is verified', () => {
    // Not shrunk: only that it is caught, and why, is tested here.
    const result = fc.check(streamDecodingProperty(eagerReceiver), { numRuns: 500, seed: 3, endOnFailure: true });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/rejected stream .* wrote/);
  });
});
