/**
 * `npm run test:browser`: the explorer in a real browser (Debian's chromium, driven by
 * playwright-core). Builds the site, serves it with `vite preview`, runs one comparison on the
 * comparison page and checks every figure of its table against the CLI's JSON for the same
 * scenario and seed; then, when the Linux guest assets are cached, boots the guest on the v86
 * page and waits for a completed free page hint round. Screenshots go to out/browser/.
 *
 * `-- --skip-linux` leaves the v86 page out.
 *
 * Without chromium it says so in a banner and exits 0 (FREEHINT_BROWSER_REQUIRED=1: exit 3),
 * as `npm run test:linux` does without Debian's archive.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { newestAssets } from '../build/linux-guest-assets.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const explorer = join(root, 'explorer');
const shots = join(root, 'out', 'browser');
/** The explorer's own Vite (the root's node_modules may hold another version, for vitest). */
const vite = join(dirname(createRequire(join(explorer, 'package.json')).resolve('vite/package.json')), 'bin', 'vite.js');
const CHROMIUM = process.env['FREEHINT_CHROMIUM'] ?? '/usr/bin/chromium';
const BROWSER_MISSING = 3;
/** The hint round waits for a whole boot of the guest (about 10–50 s here, slower under load). */
const LINUX_MS = 400_000;

/** The scenario both sides run: small enough for seconds, with freed memory for the hints to find. */
const SCENARIO = {
  guest: '1G',
  workload: 'written-then-freed',
  workloadParams: { writtenBytes: '256M' },
  freePolicy: 'none',
  initOnAlloc: false,
  vcpus: 2,
  host: 'tcg-2core',
  bandwidth: '128M',
  strategies: ['zero', 'zero+hint', 'zero+report'],
  seed: 7,
} as const;

/** The figures the table must show exactly as the CLI computed them. */
const FIELDS = ['guestBytes', 'workload', 'freePolicy', 'strategy', 'simulatedMs', 'reductionVsZero', 'downtimeMs', 'bytes', 'pagesSent', 'zeroPages', 'hintedPages', 'skippedZeroPages', 'rounds', 'verified'] as const;

function banner(text: string): void {
  const line = '!'.repeat(78);
  console.error(`${line}\n  ${text}\n${line}`);
}

function fail(message: string): never {
  throw new Error(message);
}

/** The CLI's results for SCENARIO, from `freehint run` with --json (a bare list, or an envelope with `results`). */
function cliResults(): Array<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'freehint-browser-'));
  try {
    const file = join(dir, 'scenario.json');
    writeFileSync(file, JSON.stringify(SCENARIO));
    const cli = spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), '--conditions=freehint-source', join(root, 'cli/src/cli.ts'), 'run', file, '--json', '--out', dir], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (cli.status !== 0) fail(`the CLI failed (exit ${cli.status}): ${cli.stderr}`);
    const parsed: unknown = JSON.parse(cli.stdout);
    const results = Array.isArray(parsed) ? parsed : (parsed as { results?: unknown }).results;
    if (!Array.isArray(results)) fail(`the CLI's JSON holds no results: ${cli.stdout.slice(0, 200)}`);
    return results as Array<Record<string, unknown>>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Start `vite preview` on a free port; resolves with its URL. */
function preview(): Promise<{ url: string; server: ChildProcess }> {
  const server = spawn(process.execPath, [vite, 'preview', '--port', '4173', '--host', '127.0.0.1'], { cwd: explorer, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`vite preview did not start:\n${output}`)), 60_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      // ANSI colours aside, the line reads "Local:   http://127.0.0.1:4173/".
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the ANSI colour codes this strips
      const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output.replace(/\x1b\[[0-9;]*m/g, ''));
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, server });
      }
    };
    server.stdout?.on('data', read);
    server.stderr?.on('data', read);
    server.on('exit', (code) => reject(new Error(`vite preview exited (${code}):\n${output}`)));
  });
}

/** Fill the form with SCENARIO, run it, and read the table: per strategy, field → exact value. */
async function runComparison(page: Page, url: string): Promise<Map<string, Map<string, string>>> {
  await page.goto(`${url}index.html`);
  await page.fill('[name="guest"]', SCENARIO.guest);
  await page.selectOption('[name="workload"]', SCENARIO.workload);
  await page.fill('[name="param:writtenBytes"]', SCENARIO.workloadParams.writtenBytes);
  await page.selectOption('[name="freePolicy"]', SCENARIO.freePolicy);
  await page.setChecked('[name="initOnAlloc"]', SCENARIO.initOnAlloc);
  await page.fill('[name="vcpus"]', String(SCENARIO.vcpus));
  await page.selectOption('[name="host"]', SCENARIO.host);
  await page.fill('[name="bandwidth"]', SCENARIO.bandwidth);
  for (const box of await page.locator('input[name="strategy"]').all()) {
    await box.setChecked((SCENARIO.strategies as readonly string[]).includes(await box.inputValue()));
  }
  await page.fill('[name="seed"]', String(SCENARIO.seed));
  const problem = (await page.textContent('#scenario-error')) ?? '';
  if (problem !== '') fail(`the page refused the scenario: ${problem}`);
  await page.click('#run');
  // The worker reports progress while it runs; the page thread stays free to draw it.
  await page.waitForSelector('body[data-state="running"]', { timeout: 10_000 });
  await page.waitForSelector('#results tbody tr', { timeout: 300_000 });
  await page.waitForSelector('#charts svg', { timeout: 60_000 });
  const rows = await page.$$eval('#results tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td[data-field]')].map((td) => [td.getAttribute('data-field') ?? '', td.getAttribute('data-value') ?? '', td.textContent ?? ''] as const)),
  );
  // What every row shares is in the caption.
  const shared = await page.$$eval('#results caption [data-field]', (spans) => spans.map((span) => [span.getAttribute('data-field') ?? '', span.getAttribute('data-value') ?? ''] as const));
  if (shared.length !== 3) fail(`the caption holds ${shared.length} figures, not the guest's size, workload and free-time policy`);
  const table = new Map<string, Map<string, string>>();
  for (const cells of rows) {
    const strategy = cells.find(([field]) => field === 'strategy')?.[1] ?? fail('a row without a strategy');
    table.set(strategy, new Map([...shared, ...cells.map(([field, value]) => [field, value] as const)]));
    // What the eye reads agrees with the exact figure.
    const time = cells.find(([field]) => field === 'simulatedMs');
    if (!time || time[2] !== Number(time[1]).toFixed(0)) fail(`${strategy}: the time cell shows '${time?.[2]}' for ${time?.[1]}`);
  }
  return table;
}

/** Every figure of the table equals the CLI's; returns the lines to print. */
function compare(table: Map<string, Map<string, string>>, cli: ReadonlyArray<Record<string, unknown>>): string[] {
  if (table.size !== cli.length) fail(`the table has ${table.size} rows, the CLI ${cli.length} results`);
  const lines: string[] = [];
  for (const expected of cli) {
    const strategy = String(expected['strategy']);
    const row = table.get(strategy) ?? fail(`the table has no row for ${strategy}`);
    for (const field of FIELDS) {
      const want = expected[field] === undefined ? '' : String(expected[field]);
      const got = row.get(field);
      if (got !== want) fail(`${strategy} ${field}: the page shows ${got}, the CLI ${want}`);
    }
    if (expected['verified'] !== true) fail(`${strategy}: the CLI's run did not verify`);
    lines.push(
      `  ${strategy.padEnd(12)} time ${String(expected['simulatedMs']).padEnd(20)} bytes ${String(expected['bytes']).padEnd(11)} hinted ${String(expected['hintedPages']).padEnd(7)} rounds ${String(expected['rounds'])}: page = CLI`,
    );
  }
  return lines;
}

/** Boot the guest on the v86 page and wait for a completed hint round. */
async function linuxPage(page: Page, url: string): Promise<string> {
  await page.goto(`${url}linux.html`);
  await page.waitForSelector('#boot:not([disabled])', { timeout: 60_000 });
  await page.click('#boot');
  await page.waitForSelector('body[data-rounds]:not([data-rounds="0"])', { timeout: LINUX_MS });
  // Let the heat map draw the round's last hints, then count its pixels in the hinted colour.
  await page.waitForTimeout(500);
  const hintedPixels = await page.$eval('#heat-map', (element) => {
    // The canvas as far as used here (this file is typed for Node, without the DOM's types).
    const canvas = element as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null };
    const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
    let n = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i] === 0x2e && pixels[i + 1] === 0x9e && pixels[i + 2] === 0x5b) n++;
    return n;
  });
  // At least one whole 4 MiB block (1024 pages) shows as cleared by a hint.
  if (hintedPixels < 1024) fail(`the heat map shows ${hintedPixels} hinted pages after a completed round`);
  const booted = await page.getAttribute('body', 'data-boot-seconds');
  return `booted in ${booted} s; ${(await page.textContent('#round-summary')) ?? ''} (${hintedPixels} hinted pixels on the map)`;
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    banner(`THE BROWSER TEST DID NOT RUN: no chromium at ${CHROMIUM} (apt-get install -y chromium)`);
    process.exit(process.env['FREEHINT_BROWSER_REQUIRED'] === '1' ? BROWSER_MISSING : 0);
  }
  console.log('building the explorer…');
  const build = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: explorer, stdio: 'inherit' });
  if (build.status !== 0) fail('vite build failed');
  console.log(`the CLI: freehint run ${JSON.stringify(SCENARIO)} --json`);
  const expected = cliResults();
  const { url, server } = await preview();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const errors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console error: ${message.text()}`);
    });
    mkdirSync(shots, { recursive: true });
    console.log(`comparison page: ${url}index.html`);
    const table = await runComparison(page, url);
    await page.screenshot({ path: join(shots, 'compare.png'), fullPage: true });
    for (const line of compare(table, expected)) console.log(line);
    console.log(`✓ the comparison table equals the CLI's output (${FIELDS.length} fields × ${expected.length} strategies)`);

    if (process.argv.includes('--skip-linux')) {
      console.log('the v86 page: skipped (--skip-linux)');
    } else if (newestAssets(join(root, '.cache', 'linux-guest')) === undefined) {
      await page.goto(`${url}linux.html`);
      await page.waitForSelector('#assets-missing', { timeout: 30_000 });
      await page.screenshot({ path: join(shots, 'linux-missing.png'), fullPage: true });
      banner('THE LINUX GUEST PAGE WAS NOT BOOTED: no assets in .cache/linux-guest (npm run test:linux builds them)');
    } else {
      console.log(`v86 page: booting the Linux guest (up to ${LINUX_MS / 1000} s)…`);
      const summary = await linuxPage(page, url);
      await page.screenshot({ path: join(shots, 'linux.png'), fullPage: true });
      console.log(`✓ a free page hint round completed in the browser: ${summary}`);
    }
    if (errors.length > 0) fail(`the pages reported errors:\n  ${errors.join('\n  ')}`);
    console.log(`screenshots in ${shots}`);
  } catch (error) {
    // What the pages said is usually the reason.
    if (errors.length > 0) console.error(`the pages reported:\n  ${errors.join('\n  ')}`);
    throw error;
  } finally {
    await browser.close();
    server.kill();
  }
}

main().catch((error: unknown) => {
  console.error(`browser test FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
