// A tiny read-only registry on loopback that serves OCI layouts as they are:
// GET/HEAD /v2/, /v2/<dir>/manifests/<tag|digest> and /v2/<dir>/blobs/<digest>
// answer with the layout's bytes (tags from index.json's ref.name, the
// Content-Type from the descriptor), so hostile documents reach xbuild
// through its registry client exactly as written. No auth, no uploads.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LayoutRegistry { host: string; stop(): Promise<void> }

/** Serve every layout under `root` (repository name = its directory name). */
export async function serveLayouts(root: string): Promise<LayoutRegistry> {
  const server = http.createServer((req, res) => {
    (async () => {
      const m = /^\/v2\/([^/]+)\/(manifests|blobs)\/([^/?]+)$/.exec(req.url ?? '');
      if (req.url === '/v2/' || req.url === '/v2') { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{}'); return; }
      if (!m) { res.writeHead(404); res.end(); return; }
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      const dir = join(root, repo);
      let digest = ref; let mediaType = 'application/octet-stream';
      if (kind === 'manifests') {
        const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: { digest?: unknown; mediaType?: unknown; annotations?: Record<string, unknown> }[] };
        const entry = (index.manifests ?? []).find((d) => d?.annotations?.['org.opencontainers.image.ref.name'] === ref || d?.digest === ref);
        if (!entry && !ref.startsWith('sha256:')) { res.writeHead(404); res.end(); return; }
        if (entry) { digest = String(entry.digest); if (typeof entry.mediaType === 'string') mediaType = entry.mediaType; }
      }
      const body = await readFile(join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, '').replace(/[^0-9a-f]/g, '')));
      if (kind === 'manifests' && mediaType === 'application/octet-stream') {
        try { const mt = (JSON.parse(body.toString()) as { mediaType?: unknown }).mediaType; if (typeof mt === 'string') mediaType = mt; } catch { /* served as bytes */ }
      }
      res.writeHead(200, { 'Content-Type': mediaType, 'Content-Length': body.length, 'Docker-Content-Digest': digest });
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch(() => { if (!res.headersSent) res.writeHead(404); res.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { host: `127.0.0.1:${port}`, stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
