/** The project's source files (the core's src/ and the command line's cli/src/), read once. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, with a trailing slash. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Every .ts file under `dir` (relative to the root), as root-relative paths, sorted. */
export function tsFiles(dir: string): string[] {
  const entries = readdirSync(join(root, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

/** The source files of the core and the command line, with their text. */
export const sources: ReadonlyMap<string, string> = new Map([...tsFiles('src'), ...tsFiles('cli/src')].map((path) => [path, readFileSync(join(root, path), 'utf8')]));
