/** A guest's RAM as people write it: 256 MiB, 8 GiB. */
export function guestSize(bytes: number): string {
  return bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** A change against zero detection (−0.84 is 84% less) as −84%, +3% or ±0%, as the tables print it. */
export function percentChange(change: number): string {
  const percent = Math.round(change * 100);
  return percent === 0 ? '±0%' : `${percent > 0 ? '+' : '−'}${Math.abs(percent)}%`;
}
