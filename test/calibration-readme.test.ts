import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tableOfFile } from '../calibration/qemu-table.js';

// calibration/README.md shows each committed QEMU run as `npm run calibrate:qemu -- --table <file>`
// prints it, so the documented figures cannot drift from the measured ones.
const at = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const readme = readFileSync(at('calibration/README.md'), 'utf8');

describe('calibration/README.md', () => {
  for (const file of ['calibration/qemu-7.2-tcg.json', 'calibration/qemu-7.2-tcg-unlimited-ioa1-9reps.json']) {
    it(`shows the table of ${file}`, () => {
      expect(readme).toContain(tableOfFile(at(file)));
    });
  }
});
