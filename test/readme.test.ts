import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

// Every README code block marked `<!-- example: name -->` runs here, so the documented API
// cannot drift from the real one.
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const examples = [...readme.matchAll(/<!-- example: ([\w-]+) -->\n```ts\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, code: m[2]! }));
const dir = fileURLToPath(new URL('./.readme/', import.meta.url));

describe('README examples', () => {
  it('has examples to run', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  for (const { name, code } of examples) {
    it(`runs "${name}"`, async () => {
      mkdirSync(dir, { recursive: true });
      const file = `${dir}${name}.ts`;
      writeFileSync(file, code);
      const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      await import(file);
      expect(warn).not.toHaveBeenCalled();
      // A `console.log(…); // value` line documents what it prints: check it does.
      const documented = [...code.matchAll(/console\.log\(.*\); \/\/ (\S+)/g)].map((m) => m[1]);
      const printed = log.mock.calls.map((args) => String(args[0]).split(' ')[0]);
      for (const value of documented) expect(printed).toContain(value);
      log.mockRestore();
      warn.mockRestore();
    });
  }
});
