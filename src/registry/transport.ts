// One HTTP(S) exchange with Node's http/https: no redirects, no retries, no
// auth (client.ts and auth.ts add those). Keep-alive agents per client.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export interface SendOptions {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer, or a stream sent as-is (set Content-Length yourself when known). */
  body?: Buffer | Readable;
  /** Accept any TLS certificate (--insecure-registry over HTTPS). */
  insecureTls?: boolean;
}

export interface TransportOptions {
  userAgent: string;
  /** Custom DNS lookup (tests map made-up names to 127.0.0.1). */
  lookup?: LookupFunction;
  /** Socket idle time after which an exchange fails with ETIMEDOUT. */
  idleTimeoutMs?: number;
  /** Time allowed for the TCP connection (and the TLS handshake) to be established (a black-holed host). Default 15 s. */
  connectTimeoutMs?: number;
  /** CA certificates (PEM) verified HTTPS trusts (trust.ts); read on the first HTTPS exchange. Default: Node's own. */
  ca?: () => string[];
}

export class Transport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly insecureAgent: https.Agent;
  private secureContext?: SecureContext;
  constructor(private readonly o: TransportOptions) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });
    this.insecureAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
  }

  send(o: SendOptions): Promise<HttpResponse> {
    const isHttps = o.url.protocol === 'https:';
    const mod = isHttps ? https : http;
    const agent = isHttps ? (o.insecureTls ? this.insecureAgent : this.httpsAgent) : this.httpAgent;
    const verified = isHttps && !o.insecureTls && this.o.ca ? { secureContext: this.secureContext ??= createSecureContext({ ca: this.o.ca() }) } : {};
    const headers: Record<string, string> = { 'User-Agent': this.o.userAgent, ...o.headers };
    if (Buffer.isBuffer(o.body)) headers['Content-Length'] = String(o.body.length);
    else if (o.body === undefined && ['PUT', 'POST', 'PATCH'].includes(o.method)) headers['Content-Length'] = '0';
    return new Promise((resolve, reject) => {
      const req = mod.request(o.url, { method: o.method, headers, agent, lookup: this.o.lookup, ...verified }, (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('socket', (sock) => {
        if (!sock.connecting) return;
        const ms = this.o.connectTimeoutMs ?? 15_000;
        const timer = setTimeout(() => {
          req.destroy(Object.assign(new Error(`connection not established within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`), { code: 'ETIMEDOUT' }));
        }, ms);
        // HTTPS: the TLS handshake counts too (a plain-HTTP server may wait silently for a request line)
        if (!isHttps) sock.once('connect', () => clearTimeout(timer));
        sock.once('secureConnect', () => clearTimeout(timer));
        sock.once('close', () => clearTimeout(timer));
      });
      req.setTimeout(this.o.idleTimeoutMs ?? 120_000, () => {
        req.destroy(Object.assign(new Error(`no data for ${Math.round((this.o.idleTimeoutMs ?? 120_000) / 1000)} s`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', reject);
      if (o.body === undefined) req.end();
      else if (Buffer.isBuffer(o.body)) req.end(o.body);
      else {
        const body = o.body;
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.insecureAgent.destroy();
  }
}

/** Read a whole (small) response body; more than `limit` bytes is an error. */
export async function readBody(res: HttpResponse, limit = 4 * 1024 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      throw Object.assign(new Error(`response body larger than ${limit} bytes`), { code: 'EFBIG' });
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** Discard a response body so the socket can be reused. */
export function drain(res: HttpResponse): void {
  res.body.resume();
  res.body.on('error', () => {});
}

export function isLoopbackHost(registry: string): boolean {
  const host = hostOf(registry);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** "host:5000" -> "host", "[::1]:5000" -> "::1". */
export function hostOf(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']')).toLowerCase();
  const c = registry.lastIndexOf(':');
  return (c === -1 ? registry : registry.slice(0, c)).toLowerCase();
}
