/** "Did you mean …?" for mistyped commands, options and keys. */
import leven from 'leven';

/**
 * The candidate closest to a mistyped name, if it is close enough to be what was meant (at
 * most a third of its letters off, as commander judges option names).
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = leven(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** ` (did you mean x?)`, or nothing when no candidate is close. */
export function didYouMean(name: string, candidates: readonly string[]): string {
  const match = closest(name, candidates);
  return match === undefined ? '' : ` (did you mean ${match}?)`;
}
