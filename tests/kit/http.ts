/**
 * A small static HTTP server for tests: ostree and apt fetch the kit's repositories from it like from a real
 * mirror. GET and HEAD only, no directory listings, nothing outside the served directory. It answers from the test
 * process's event loop, so the test must not block that loop (no spawnSync/execSync) while a child uses it.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, sep } from 'node:path';

export interface ServedDirectory {
  /** http://127.0.0.1:<port> without a trailing slash. */
  url: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Files whose URL path matches stall after their first bytes, as a dead mirror does (for cancel tests). */
  stall?: RegExp;
}

export async function serveDirectory(dir: string, opts: ServeOptions = {}): Promise<ServedDirectory> {
  const root = await realpath(dir);
  const server = createServer((req, res) => {
    handle(root, req, res, opts).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { resolve(); });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => { if (err) reject(err); else resolve(); });
      server.closeAllConnections();
    }),
  };
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse, opts: ServeOptions): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const file = await resolveInside(root, req.url ?? '/');
  const st = file ? await stat(file).catch(() => null) : null;
  if (!file || !st?.isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'not found\n');
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': st.size,
    'Last-Modified': st.mtime.toUTCString(),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (opts.stall?.test(req.url ?? '')) {
    // Some bytes, then nothing: the client waits until it gives up or is cancelled (the server closes it later).
    res.write(Buffer.alloc(Math.min(64, st.size)));
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** The file a URL path names, or null when it would leave `root` (via `..`, encoded or not, or a symlink). */
async function resolveInside(root: string, url: string): Promise<string | null> {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://localhost').pathname);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.split('/').includes('..')) return null;
  let real: string;
  try {
    real = await realpath(join(root, path));
  } catch {
    return null;
  }
  return real === root || real.startsWith(`${root}${sep}`) ? real : null;
}
