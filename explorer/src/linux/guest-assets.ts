/** Where the page finds the guest: the dev/preview server serves the cache under linux-guest/. */

/** What linux-guest/manifest.json says (served by build/linux-guest-assets.ts). */
export interface GuestManifest {
  readonly available: boolean;
  readonly cacheDir: string;
  readonly packages?: string;
}

export const ASSET_URLS = { bios: 'linux-guest/bios.bin', bzImage: 'linux-guest/bzImage', initrd: 'linux-guest/initrd.gz' } as const;

/** The manifest, or undefined when no server serves one (a plain static server, say). */
export async function fetchManifest(): Promise<GuestManifest | undefined> {
  try {
    const response = await fetch('linux-guest/manifest.json', { cache: 'no-store' });
    if (!response.ok) return undefined;
    const body: unknown = await response.json();
    if (typeof body !== 'object' || body === null || typeof (body as GuestManifest).available !== 'boolean') return undefined;
    return body as GuestManifest;
  } catch {
    return undefined;
  }
}
