/**
 * How many runs a property test makes. CI keeps the suite fast; `FREEHINT_RUNS` raises it for
 * a long local campaign (the fuzz scripts use their own --runs).
 */
export function runs(normal: number): number {
  const fromEnv = Number(process.env['FREEHINT_RUNS']);
  if (Number.isFinite(fromEnv) && fromEnv > 0) return fromEnv;
  return process.env['CI'] ? Math.max(10, Math.ceil(normal / 2)) : normal;
}
