import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The public API is a list, not a side effect: src/index.ts names every export, and every
// name it exports is documented where it is declared.
const root = fileURLToPath(new URL('..', import.meta.url));
const entries = ['src/index.ts', 'src/testing/index.ts'];

/** Exported names of `entry` whose declarations carry no doc comment. */
function undocumented(program: ts.Program, entry: string): string[] {
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(`${root}${entry}`)!;
  const module = checker.getSymbolAtLocation(file)!;
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(module)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (symbol.getDocumentationComment(checker).length === 0) missing.push(exported.name);
  }
  return missing;
}

describe('the public API', () => {
  it('is listed name by name (no export *)', () => {
    for (const entry of entries) expect(readFileSync(`${root}${entry}`, 'utf8'), entry).not.toMatch(/export \*/);
  });

  it('documents every name it exports', () => {
    const program = ts.createProgram(
      entries.map((e) => `${root}${e}`),
      { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true },
    );
    for (const entry of entries) expect(undocumented(program, entry), `undocumented exports of ${entry}`).toEqual([]);
  }, 60_000);
});
