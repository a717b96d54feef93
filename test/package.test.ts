import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsup = createRequire(import.meta.url).resolve('tsup/dist/cli-default.js');
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
const manifest = (path: string): { dependencies?: Record<string, string>; bin?: Record<string, string> } => JSON.parse(readFileSync(`${root}${path}`, 'utf8'));

describe('the package manifests', () => {
  it('the core depends on rxjs and pure-rand only; the command line lives in freehint-cli', () => {
    const core = manifest('package.json');
    expect(Object.keys(core.dependencies ?? {}).sort()).toEqual(['pure-rand', 'rxjs']);
    expect(core.bin).toBeUndefined();
    const cli = manifest('cli/package.json');
    expect(cli.dependencies?.['freehint']).toBeDefined();
    expect(cli.bin).toEqual({ freehint: './dist/cli.js' });
  });
});

// The published shape: ESM, CommonJS and types, for the package and its testing subpath,
// resolved by name through the exports map as a user's code would; and the command line
// built against the built core.
describe('the built packages', () => {
  // The builds (declarations above all) take seconds, more on a loaded machine: they get two minutes.
  beforeAll(() => {
    execFileSync(process.execPath, [tsup], { cwd: root, stdio: 'pipe' });
    execFileSync(process.execPath, [tsup], { cwd: `${root}cli`, stdio: 'pipe' });
  }, 120_000);

  it('loads by name from CommonJS, the package and its testing subpath', () => {
    expect(node(['-e', "const f = require('freehint'); const t = require('freehint/testing'); console.log(typeof f.FlatMemory, typeof f.BalloonDevice, typeof t.hostileRing)"])).toBe('function function function');
  });

  it('loads by name from ESM', () => {
    expect(
      node(['--input-type=module', '-e', "import { FlatMemory, MmioTransport } from 'freehint'; import { EchoDevice } from 'freehint/testing'; console.log(typeof FlatMemory, typeof MmioTransport, typeof EchoDevice)"]),
    ).toBe('function function function');
  });

  it('ships declarations for both entry points and both module systems', () => {
    expect(node(['-e', "const fs = require('fs'); console.log(['index.d.ts', 'index.d.cts', 'testing.d.ts', 'testing.d.cts'].every((f) => fs.existsSync('dist/' + f)))"])).toBe('true');
  });

  it('the built command line runs on the built core', () => {
    expect(node(['cli/dist/cli.js', 'demo', '--help'])).toContain('a balloon session');
  });
});
