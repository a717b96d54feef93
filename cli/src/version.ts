/** The command line's version, read from its package.json. */
import { readFileSync } from 'node:fs';

/**
 * The command line's version, from its package.json: one directory up both from the sources
 * (src/) and from the build (dist/), so the same lookup serves `npm start` and an install.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
