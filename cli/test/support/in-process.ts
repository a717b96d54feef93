import { vi } from 'vitest';
import { main } from '../../src/main.js';

/** Run the command line in this process and collect what it writes and its exit code. */
export async function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void (stdout += parts.join(' ') + '\n'));
  const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void (stderr += parts.join(' ') + '\n'));
  process.exitCode = undefined;
  try {
    await main(args);
  } finally {
    for (const spy of [out, err, log, error]) spy.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout, stderr };
}
