/**
 * Serves the Linux guest's kernel, initramfs and BIOS to the v86 page from the cache that
 * `npm run test:linux` fills (`.cache/linux-guest/<kernel>-<key>/`). They are tens of MB and
 * built from Debian's archive, so they are never bundled: the dev and preview servers serve
 * them under /linux-guest/, and the page asks for /linux-guest/manifest.json first.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Connect, Plugin } from 'vite';

/** What the page learns about the assets (the same type is declared on the page's side). */
export interface GuestManifest {
  readonly available: boolean;
  /** The directory that was searched (said on the page when nothing is there). */
  readonly cacheDir: string;
  readonly packages?: string;
}

const FILES = ['bzImage', 'initrd.gz', 'bios.bin'] as const;

/** The most recently completed asset directory, if any. */
export function newestAssets(cacheDir: string): string | undefined {
  if (!existsSync(cacheDir)) return undefined;
  const complete = readdirSync(cacheDir)
    .map((name) => join(cacheDir, name))
    .filter((dir) => existsSync(join(dir, 'complete')) && FILES.every((f) => existsSync(join(dir, f))))
    .sort((a, b) => statSync(join(b, 'complete')).mtimeMs - statSync(join(a, 'complete')).mtimeMs);
  return complete[0];
}

function middleware(cacheDir: string): Connect.NextHandleFunction {
  return (request: IncomingMessage, response: ServerResponse, next: Connect.NextFunction): void => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const match = /(?:^|\/)linux-guest\/([^/]+)$/.exec(path);
    if (!match) return next();
    const dir = newestAssets(cacheDir);
    if (match[1] === 'manifest.json') {
      const manifest: GuestManifest = dir ? { available: true, cacheDir, packages: readFileSync(join(dir, 'complete'), 'utf8').trim() } : { available: false, cacheDir };
      response.setHeader('Content-Type', 'application/json');
      response.setHeader('Cache-Control', 'no-store');
      response.end(JSON.stringify(manifest));
      return;
    }
    const file = FILES.find((f) => f === match[1]);
    if (!dir || !file) {
      response.statusCode = 404;
      response.end('not found');
      return;
    }
    response.setHeader('Content-Type', 'application/octet-stream');
    response.setHeader('Content-Length', String(statSync(join(dir, file)).size));
    createReadStream(join(dir, file)).pipe(response);
  };
}

/** The plugin: the same routes on `vite` (dev) and `vite preview`. */
export function linuxGuestAssets(cacheDir: string): Plugin {
  return {
    name: 'freehint-linux-guest-assets',
    configureServer(server) {
      server.middlewares.use(middleware(cacheDir));
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware(cacheDir));
    },
  };
}
