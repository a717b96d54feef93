/** The output directory, checked writable before any work. */
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeDirectories } from '../report/files.js';
import { UsageError, fsReason } from '../usage-error.js';

/**
 * Check, before any work, that results can be written into `dir`: create it if need be, write
 * and remove a probe file, and remove again what was created, so that a run that fails later
 * leaves nothing behind. A real write is the only test that holds for root, read-only mounts
 * and full disks alike (permission bits alone would not).
 */
export function checkOutputDir(dir: string): void {
  const target = resolve(dir);
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(target);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined && !existing.isDirectory()) throw new UsageError(`output directory '${dir}': not a directory`);
  let created: string | undefined;
  try {
    created = makeDirectories(target);
    const probe = join(target, `.freehint-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (error) {
    throw new UsageError(`output directory '${dir}': cannot write there (${fsReason(error)})`);
  } finally {
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
  }
}
