import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The core library bundles for a browser (no Node.js module, no Buffer, no process) and runs
// there: here in a bare JavaScript context that has only what a web page has.
const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const example = /<!-- example: vmm-mmio -->\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];

/** Bundle `contents` as a browser script (freehint from its sources); returns the script. */
async function bundle(contents: string, globalName?: string): Promise<string> {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'page.ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    conditions: ['freehint-source'],
    write: false,
    logLevel: 'silent',
    ...(globalName ? { globalName } : {}),
  });
  expect(result.warnings).toEqual([]);
  return result.outputFiles[0]!.text;
}

/** Run a script where only a web page's globals exist; returns what it logged and its globals. */
function runInPage(script: string): { logged: string[]; page: Record<string, unknown> } {
  const logged: string[] = [];
  const console = { log: (...args: unknown[]) => logged.push(args.map(String).join(' ')), warn: (...args: unknown[]) => logged.push(`warn: ${args.map(String).join(' ')}`) };
  const page: Record<string, unknown> = { console, TextEncoder, TextDecoder, performance, setTimeout, clearTimeout, queueMicrotask, atob, btoa };
  runInNewContext(script, page);
  return { logged, page };
}

describe('the core in a browser', () => {
  it("bundles and runs the README's VMM example", async () => {
    expect(example, 'the vmm-mmio example in the README').toBeDefined();
    const { logged, page } = runInPage(await bundle(example!));
    expect(logged).toContain('74726976');
    expect(logged.filter((l) => l.startsWith('warn:'))).toEqual([]);
    expect(page['process'] ?? page['Buffer'] ?? page['require']).toBeUndefined();
  });

  it('bundles the whole public API, freehint and freehint/testing, and loads it', async () => {
    const script = await bundle("export * from 'freehint'; export * as testing from 'freehint/testing';", 'freehint');
    const { page } = runInPage(script);
    const api = page['freehint'] as Record<string, unknown> & { testing: Record<string, unknown> };
    expect(typeof api['BalloonDevice']).toBe('function');
    expect(typeof api['migrate']).toBe('function');
    expect(typeof api.testing['hostileRingProperty']).toBe('function');
  });

  it('refuses a Node.js module, as a browser bundle must', async () => {
    await expect(bundle("import { crc32 } from 'node:zlib'; console.log(crc32);")).rejects.toThrow(/node:zlib/);
  });
});
