/** Whole-file writes for the reports: a temporary file renamed over the target. */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fsReason } from '../usage-error.js';

/**
 * `mkdir -p`, one level at a time; returns the first directory it created, if any. Node's own
 * recursive mkdir loops forever where a parent exists but refuses children with ENOENT (/proc).
 */
export function makeDirectories(dir: string): string | undefined {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  try {
    for (const d of missing) mkdirSync(d);
  } catch (error) {
    if (missing[0] !== undefined) rmSync(missing[0], { recursive: true, force: true });
    throw error;
  }
  return missing[0];
}

/**
 * Write a file whole or not at all: the content goes to a temporary file next to it, which is
 * then renamed over the target, so a failure never leaves a half-written file behind.
 */
export function writeFileAtomic(path: string, content: string): void {
  writeFilesAtomic(dirname(path), { [path.slice(dirname(path).length + 1)]: content });
}

/**
 * Write several files into `dir`, all or none: every content first goes to a temporary file,
 * and only when all are written are they renamed into place. An error names the file and the
 * reason in one line.
 */
export function writeFilesAtomic(dir: string, files: Readonly<Record<string, string>>): void {
  const staged: Array<[string, string]> = [];
  let current = dir;
  try {
    makeDirectories(dir);
    for (const [name, content] of Object.entries(files)) {
      current = join(dir, name);
      const temporary = join(dir, `.${name}.${process.pid}.tmp`);
      staged.push([temporary, current]);
      writeFileSync(temporary, content);
    }
    for (const [temporary, target] of staged) {
      current = target;
      renameSync(temporary, target);
    }
  } catch (error) {
    for (const [temporary] of staged) rmSync(temporary, { force: true });
    throw new Error(`cannot write '${current}': ${fsReason(error)}`);
  }
}
