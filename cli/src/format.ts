/** A guest's RAM as people write it: 256 MiB, 8 GiB. */
export function guestSize(bytes: number): string {
  return bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
