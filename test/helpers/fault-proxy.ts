/**
 * Fault-injecting HTTP proxy for tests, on 127.0.0.1, in front of a real
 * registry (it forwards everything, Host header included, so the registry's
 * upload Locations point back at the proxy).
 *
 *   const proxy = await startFaultProxy(reg.url);           // target origin
 *   proxy.host                                               // '127.0.0.1:PORT' (use in references)
 *   proxy.addFault({ method: 'GET', path: /\/blobs\//, kind: 'reset', afterBytes: 1000, times: 2 });
 *   proxy.addFault({ method: 'PUT', path: /\/manifests\//, kind: 'status', status: 500, times: 1 });
 *   proxy.addFault({ path: /\/blobs\//, kind: 'status', status: 429, retryAfter: 1, times: 1 });
 *   proxy.requests   // [{ method, path, range?, authorization?, status, fault? }] every request seen, in order
 *   proxy.clearFaults(); await proxy.stop();
 *
 * `startFaultProxy(target, { ignoreRange: true })` strips Range headers (a
 * registry that cannot resume: answers 200 with the whole blob).
 * A fault applies to the next `times` (default 1; Infinity = always) requests
 * matching method and path; the first matching rule with uses left wins.
 * `reset` forwards the request and cuts the connection after `afterBytes`
 * bytes of the response body (0 = before any response). `lose-response`
 * lets the registry handle the request, then cuts the connection instead of
 * answering (the client cannot know whether it landed). `redirect` answers
 * 307 to `to` + the same path (blob storage redirects, e.g. to a CDN).
 * `status` may carry extra `headers` (a 401 with WWW-Authenticate, a 302 with
 * Location for a HEAD). `stall` forwards `afterBytes` bytes of the body and then
 * sends nothing more while keeping the connection open. `corrupt` forwards the
 * response with the byte at `at` (default 0) of the body changed (same size,
 * wrong content). `huge` answers 200 with `bytes` bytes of `fill` (a document
 * far larger than any manifest). `requests[i].bytes` counts the body bytes sent.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { method?: string; path?: RegExp; times?: number; kind: 'reset'; afterBytes?: number }
  | { method?: string; path?: RegExp; times?: number; kind: 'lose-response' }
  | { method?: string; path?: RegExp; times?: number; kind: 'redirect'; to: string }
  | { method?: string; path?: RegExp; times?: number; kind: 'status'; status: number; retryAfter?: number; headers?: Record<string, string> }
  | { method?: string; path?: RegExp; times?: number; kind: 'stall'; afterBytes?: number }
  | { method?: string; path?: RegExp; times?: number; kind: 'corrupt'; at?: number }
  | { method?: string; path?: RegExp; times?: number; kind: 'huge'; bytes: number; contentType?: string; fill?: string };

export interface FaultProxy {
  host: string;
  url: string;
  requests: Array<{ method: string; path: string; range?: string; authorization?: boolean; status?: number; fault?: string; bytes?: number }>;
  addFault(f: Fault): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(target: string, opts: { ignoreRange?: boolean } = {}): Promise<FaultProxy> {
  const t = new URL(target);
  const faults: Array<Fault & { left: number }> = [];
  const requests: FaultProxy['requests'] = [];
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: FaultProxy['requests'][number] = { method, path };
    if (req.headers.range) entry.range = req.headers.range;
    if (req.headers.authorization) entry.authorization = true;
    requests.push(entry);
    const f = faults.find((x) => x.left > 0 && (!x.method || x.method === method) && (!x.path || x.path.test(path)));
    if (f) f.left--;
    if (f?.kind === 'status') {
      entry.status = f.status; entry.fault = `status ${f.status}`;
      req.resume();
      const headers: Record<string, string> = { 'Content-Type': 'application/json', ...f.headers };
      if (f.retryAfter !== undefined) headers['Retry-After'] = String(f.retryAfter);
      res.writeHead(f.status, headers);
      res.end(JSON.stringify({ errors: [{ code: f.status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', message: `injected ${f.status}` }] }));
      return;
    }
    if (f?.kind === 'redirect') {
      entry.status = 307; entry.fault = `redirect to ${f.to}`;
      if (req.headers.authorization) entry.fault += ' (had Authorization)';
      req.resume();
      res.writeHead(307, { Location: `${f.to}${path}` });
      res.end();
      return;
    }
    if (f?.kind === 'huge') {
      entry.status = 200; entry.fault = `huge ${f.bytes}`;
      req.resume();
      res.writeHead(200, { 'Content-Type': f.contentType ?? 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': String(f.bytes) });
      const block = Buffer.alloc(64 * 1024, f.fill ?? ' ');
      let left = f.bytes;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, block.length);
          left -= n; entry.bytes = (entry.bytes ?? 0) + n;
          if (!res.write(block.subarray(0, n))) { res.once('drain', pump); return; }
        }
        res.end();
      };
      res.on('error', () => {});
      pump();
      return;
    }
    if (f?.kind === 'reset' && (f.afterBytes ?? 0) === 0) {
      entry.fault = 'reset before response';
      req.socket.destroy();
      return;
    }
    const headers = { ...req.headers };
    if (opts.ignoreRange) delete headers.range;
    const up = http.request({ host: t.hostname, port: t.port, method, path, headers }, (ures) => {
      entry.status = ures.statusCode;
      if (f?.kind === 'lose-response') {
        entry.fault = 'response lost';
        ures.destroy();
        res.socket?.destroy();
        return;
      }
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.on('data', (c: Buffer) => { entry.bytes = (entry.bytes ?? 0) + c.length; });
      if (f?.kind === 'stall') {
        entry.fault = `stall after ${f.afterBytes ?? 0} bytes`;
        let left = f.afterBytes ?? 0;
        ures.on('data', (c: Buffer) => {
          if (left <= 0) return;
          const part = c.subarray(0, left);
          left -= part.length;
          res.write(part);
        });
        res.on('error', () => {});
        return; // never ends: the socket stays open until the client or stop() closes it
      }
      if (f?.kind === 'corrupt') {
        entry.fault = `corrupt byte ${f.at ?? 0}`;
        let pos = 0;
        ures.on('data', (c: Buffer) => {
          const at = (f.at ?? 0) - pos;
          if (at >= 0 && at < c.length) { c = Buffer.from(c); c[at] = c[at]! ^ 0xff; }
          pos += c.length;
          res.write(c);
        });
        ures.on('end', () => res.end());
        return;
      }
      if (f?.kind === 'reset') {
        entry.fault = `reset after ${f.afterBytes} bytes`;
        let left = f.afterBytes ?? 0;
        ures.on('data', (c: Buffer) => {
          if (left <= 0) return;
          const part = c.subarray(0, left);
          left -= part.length;
          if (left <= 0) {
            ures.destroy();
            res.write(part, () => res.socket?.destroy());
          } else {
            res.write(part);
          }
        });
        ures.on('end', () => res.end());
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => { res.socket?.destroy(); });
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    addFault(f) { faults.push({ ...f, left: f.times ?? 1 }); },
    clearFaults() { faults.length = 0; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
