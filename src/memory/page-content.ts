import { CompactMemory } from './compact-memory.js';
import { PAGE_SIZE, type GuestMemory } from './guest-memory.js';
import { fillPattern } from './page-pattern.js';

const scratchWords = new Uint32Array(PAGE_SIZE / 4);
const scratchBytes = new Uint8Array(scratchWords.buffer);

/** True when `memory` stores this guest's pattern pages natively. */
function compactFor(memory: GuestMemory, seed: number): memory is CompactMemory {
  return memory instanceof CompactMemory && memory.patternSeed === seed >>> 0;
}

/** Write the content the guest with `seed` gives page `pfn` at `version`. */
export function writePatternPage(memory: GuestMemory, seed: number, pfn: number, version: number): void {
  if (compactFor(memory, seed)) {
    memory.writePattern(pfn, version);
    return;
  }
  fillPattern(scratchWords, { seed, pfn, version });
  memory.write(pfn * PAGE_SIZE, scratchBytes);
}

/** True when page `pfn` holds exactly what {@link writePatternPage} wrote at `version`. */
export function holdsPatternPage(memory: GuestMemory, seed: number, pfn: number, version: number): boolean {
  if (compactFor(memory, seed)) return memory.patternVersion(pfn) === version;
  fillPattern(scratchWords, { seed, pfn, version });
  return Buffer.compare(memory.read(pfn * PAGE_SIZE, PAGE_SIZE), scratchBytes) === 0;
}
