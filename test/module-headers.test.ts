import { describe, expect, it } from 'vitest';
import { sources } from './support/sources.js';

// A newcomer reads a folder by its files' first lines: every module opens (after a shebang)
// with a doc comment saying what it is, before any import or code.
describe('module headers', () => {
  it('every source file opens with a doc comment', () => {
    const missing = [...sources].filter(([, text]) => !/^(#!.*\n)?\/\*\*[ \n]/.test(text)).map(([path]) => path);
    expect(missing).toEqual([]);
  });

  it('the header says something in its first line', () => {
    const empty = [...sources].filter(([, text]) => {
      const lines = text.replace(/^#!.*\n/, '').split('\n');
      const first = lines[0] === '/**' ? lines[1] : lines[0];
      return !/[A-Za-z]{3}/.test(first ?? '');
    });
    expect(empty.map(([path]) => path)).toEqual([]);
  });
});
