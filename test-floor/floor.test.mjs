// The oldest Node.js that `engines` promises, running what users run: the built core (ESM and
// CommonJS, both entry points) and the built command line. Vitest itself needs a newer Node,
// so this file uses Node's own test runner. Run by `npm run test:floor` (see run.mjs).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

test('runs on the Node.js it was started for', () => {
  const expected = process.env['FREEHINT_NODE_FLOOR'];
  if (expected !== undefined) assert.equal(process.version, `v${expected}`);
});

test('the core loads by name from ESM and CommonJS, with its testing subpath', async () => {
  const esm = await import('freehint');
  const testing = await import('freehint/testing');
  const cjs = require('freehint');
  assert.equal(typeof esm.BalloonDevice, 'function');
  assert.equal(typeof testing.EchoDevice, 'function');
  assert.equal(typeof cjs.FlatMemory, 'function');
});

test('a small guest migrates with hints, verified, and the same seed gives the same result', async () => {
  const { checkScenario, runStrategy } = await import('freehint');
  const scenario = checkScenario({ guest: '256M', workload: 'compile', warmupMs: 100, seed: 3 });
  const first = runStrategy(scenario, 'zero+hint');
  const again = runStrategy(scenario, 'zero+hint');
  assert.equal(first.verified, true);
  assert.ok(first.hintedPages > 0);
  assert.deepEqual({ ...again, wallMs: 0 }, { ...first, wallMs: 0 });
});

test('the command line runs a comparison and prints its JSON envelope', () => {
  const out = mkdtempSync(join(tmpdir(), 'freehint-floor-'));
  const stdout = execFileSync(process.execPath, [join(root, 'cli/dist/cli.js'), '--guest', '256M', '--workloads', 'idle', '--warmup', '100', '--strategies', 'zero,zero+hint', '--json', '--no-progress', '--out', out], {
    encoding: 'utf8',
  });
  const printed = JSON.parse(stdout);
  assert.equal(printed.format, 'freehint-results');
  assert.deepEqual(
    printed.results.map((r) => [r.strategy, r.verified]),
    [
      ['zero', true],
      ['zero+hint', true],
    ],
  );
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')), printed);
  assert.match(readFileSync(join(out, 'compare.html'), 'utf8'), /<svg/);
});

test('bad input is refused with exit code 2 and one line', () => {
  try {
    execFileSync(process.execPath, [join(root, 'cli/dist/cli.js'), 'postcopy', '--huge-page', '1K'], { encoding: 'utf8', stdio: 'pipe' });
    assert.fail('expected exit code 2');
  } catch (error) {
    assert.equal(error.status, 2);
    assert.equal(error.stderr, "freehint: huge page size '1K': expected a power of two from 4K to 1G, like 2M\n");
  }
});
