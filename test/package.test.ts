import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsup = createRequire(import.meta.url).resolve('tsup/dist/cli-default.js');
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();

// The published shape: ESM, CommonJS and types, for the package and its testing subpath,
// resolved by name through the exports map as a user's code would.
describe('the built package', () => {
  // The build (declarations above all) takes seconds, more on a loaded machine: it gets a minute.
  beforeAll(() => {
    execFileSync(process.execPath, [tsup], { cwd: root, stdio: 'pipe' });
  }, 60_000);

  it('loads by name from CommonJS, the package and its testing subpath', () => {
    expect(node(['-e', "const f = require('freehint'); const t = require('freehint/testing'); console.log(typeof f.FlatMemory, typeof f.BalloonDevice, typeof t.hostileRing)"])).toBe('function function function');
  });

  it('loads by name from ESM', () => {
    expect(node(['--input-type=module', '-e', "import { FlatMemory, MmioTransport } from 'freehint'; import { EchoDevice } from 'freehint/testing'; console.log(typeof FlatMemory, typeof MmioTransport, typeof EchoDevice)"])).toBe('function function function');
  });

  it('ships declarations for both entry points and both module systems', () => {
    expect(node(['-e', "const fs = require('fs'); console.log(['index.d.ts', 'index.d.cts', 'testing.d.ts', 'testing.d.cts'].every((f) => fs.existsSync('dist/' + f)))"])).toBe('true');
  });
});
