import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsup = createRequire(import.meta.url).resolve('tsup/dist/cli-default.js');
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
const manifest = (path: string): { dependencies?: Record<string, string>; bin?: Record<string, string> } => JSON.parse(readFileSync(`${root}${path}`, 'utf8'));

// The builds (declarations above all) take seconds, more on a loaded machine: they get two minutes.
beforeAll(() => {
  execFileSync(process.execPath, [tsup], { cwd: root, stdio: 'pipe' });
  execFileSync(process.execPath, [tsup], { cwd: `${root}cli`, stdio: 'pipe' });
  // npm links a workspace's bin only when its file exists: on a fresh clone `npm ci` ran
  // before cli/dist did, so link it now, as an install from the registry would have it.
  execFileSync('npm', ['rebuild', 'freehint-cli', '--ignore-scripts'], { cwd: root, stdio: 'pipe' });
}, 120_000);

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

  // What `npm pack` puts in each tarball (the builds above stand in for prepack).
  const packed = (dir: string): string[] => {
    const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: `${root}${dir}`, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>;
    return pack!.files.map((f) => f.path).sort();
  };

  it('the core tarball holds the build, the README, the changelog and the licence; no maps, no sources', () => {
    const files = packed('.');
    expect(files.filter((f) => !f.startsWith('dist/'))).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
    for (const entry of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/testing.js', 'dist/testing.cjs', 'dist/testing.d.ts', 'dist/testing.d.cts']) expect(files).toContain(entry);
    expect(files.filter((f) => !/\.(js|cjs|d\.ts|d\.cts)$/.test(f) && f.startsWith('dist/'))).toEqual([]);
  });

  it('the command-line tarball holds its bundle and the run pool worker, its README and its licence', () => {
    expect(packed('cli')).toEqual(['LICENSE', 'README.md', 'dist/cli.js', 'dist/run-worker.js', 'package.json']);
  });

  it('each package builds itself before it is packed', () => {
    expect((JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts['prepack']).toBe('tsup');
    expect((JSON.parse(readFileSync(`${root}cli/package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts['prepack']).toBe('tsup');
  });
});

// The README's command-line examples, as a user types them: `npm start -- …` from a clone
// (from source), `npx freehint …` from an install (the built bin, linked by the workspace).
// Each gets a fresh --out and no progress, and must verify every destination.
describe("the README's commands", () => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const commands = [...readme.matchAll(/<!-- commands: (\w+) -->\n```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[2]!
      .trim()
      .split('\n')
      .map((line) => ({ kind: m[1]!, line })),
  );

  it('has commands for a clone and for an install', () => {
    expect(commands.filter((c) => c.kind === 'clone' && c.line.startsWith('npm start -- '))).not.toHaveLength(0);
    expect(commands.filter((c) => c.kind === 'install' && c.line.startsWith('npx freehint '))).not.toHaveLength(0);
    expect(commands.every((c) => c.line.startsWith(c.kind === 'clone' ? 'npm start -- ' : 'npx freehint '))).toBe(true);
  });

  for (const { line } of commands) {
    it(`runs: ${line}`, () => {
      const [program, ...args] = line.split(/\s+/);
      const out = mkdtempSync(join(tmpdir(), 'freehint-readme-'));
      const npx = program === 'npx' ? ['--no-install'] : [];
      const stdout = execFileSync(program!, [...npx, ...args, '--out', out, '--no-progress'], { cwd: root, encoding: 'utf8' });
      if (args.includes('--json')) expect((JSON.parse(stdout.slice(stdout.indexOf('{'))) as { results: Array<{ verified: boolean }> }).results.every((r) => r.verified)).toBe(true);
      else expect(stdout).toMatch(/verified/);
      expect(stdout).not.toMatch(/NOT verify|NO \(/);
    });
  }
});
