// Endpoint and auth of the Distribution API client: which origin a registry is
// spoken to at (scheme decided as Docker does: loopback plain HTTP, others
// HTTPS, --insecure-registry HTTPS without verification then plain HTTP), its
// auth challenge, one authenticated exchange with re-authorisation, status ->
// typed RegistryError with hints, and the retry policy the operations share.
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { XbuildError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { XBUILD_VERSION } from '../version.ts';
import { Authenticator, parseChallenge } from './auth.ts';
import type { Env } from './credentials.ts';
import { RegistryError, httpError, isCertificateError, networkError } from './errors.ts';
import { DEFAULT_RETRY, RetryBudget, withRetry, type BudgetLimits, type RetryOptions } from './retry.ts';
import { trustedCertificates } from './trust.ts';
import { Transport, readBody, drain, isLoopbackHost, hostOf, type HttpResponse } from './transport.ts';

export interface RepositoryName { registry: string; repository: string }

export interface RegistryClientOptions {
  /** Environment for credentials (DOCKER_CONFIG, HOME, PATH for credential helpers). */
  env: Env;
  /** host[:port] spoken to without TLS verification, or over plain HTTP when it has no TLS. Loopback may use plain HTTP too. */
  insecureRegistries?: string[];
  onProgress?: OnProgress;
  retry?: Partial<RetryOptions>;
  userAgent?: string;
  /** Blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks. Default 32 MiB. */
  monolithicMaxBytes?: number;
  /** PATCH chunk size (held in memory once per upload; a failed chunk is resent from memory). Default 8 MiB. */
  chunkBytes?: number;
  /** Custom DNS lookup (tests only: map a made-up host name to 127.0.0.1). */
  lookup?: LookupFunction;
  /** Socket idle timeout. Default 120 s. */
  idleTimeoutMs?: number;
  /** TCP connect timeout. Default 15 s. */
  connectTimeoutMs?: number;
  /** A blob read that receives nothing for this long fails with "the registry stopped sending" (then retried). Default 60 s. */
  stallTimeoutMs?: number;
  /** Total time one blob download may take, retries and resumes included. Default 30 min. */
  blobDeadlineMs?: number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
export const DEFAULT_BLOB_DEADLINE_MS = 30 * 60_000;

interface Endpoint { origin: string; insecureTls: boolean }

export interface RequestSpec {
  what: string;
  method: string;
  /** Path under the registry origin (/v2/...) or an absolute URL (upload locations, redirects). */
  path: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
}

/** Docker Hub's canonical name and API host differ. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

export class RegistrySession {
  private readonly transport: Transport;
  private readonly auth: Authenticator;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private readonly insecure: Set<string>;
  readonly retry: RetryOptions;
  readonly onProgress: OnProgress;
  readonly stallTimeoutMs: number;
  readonly blobDeadlineMs: number;

  constructor(opts: RegistryClientOptions) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.onProgress = opts.onProgress ?? noProgress;
    this.insecure = new Set((opts.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.stallTimeoutMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.blobDeadlineMs = opts.blobDeadlineMs ?? DEFAULT_BLOB_DEADLINE_MS;
    this.transport = new Transport({
      userAgent: opts.userAgent ?? `xbuild/${XBUILD_VERSION}`, lookup: opts.lookup, connectTimeoutMs: opts.connectTimeoutMs,
      ca: () => trustedCertificates(opts.env).ca,
      // a shorter stall limit also bounds the wait for response headers (the body's own stall check,
      // which names the problem, runs first: the socket's limit is twice as long)
      idleTimeoutMs: opts.idleTimeoutMs ?? (opts.stallTimeoutMs !== undefined && opts.stallTimeoutMs < 60_000 ? 2 * opts.stallTimeoutMs : undefined),
    });
    this.auth = new Authenticator({ env: opts.env, transport: this.transport, insecureTls: (h) => this.isInsecure(h) });
  }

  close(): void {
    this.transport.close();
  }

  private isInsecure(registry: string): boolean {
    const r = registry.toLowerCase();
    return this.insecure.has(r) || this.insecure.has(hostOf(r));
  }

  /**
   * Which origin to speak to and the registry's auth challenge (GET /v2/),
   * once per registry. HTTPS first, verified unless --insecure-registry;
   * loopback and insecure registries fall back to plain HTTP when the
   * registry does not speak TLS (as Docker and crane do). An untrusted
   * certificate is never a reason to fall back.
   */
  endpoint(registry: string): Promise<Endpoint> {
    let p = this.endpoints.get(registry);
    if (!p) {
      p = this.retrying(() => this.ping(registry));
      this.endpoints.set(registry, p);
      p.catch(() => this.endpoints.delete(registry));
    }
    return p;
  }

  /** `path` as an absolute URL at the registry's origin. */
  async url(registry: string, path: string | URL): Promise<URL> {
    return path instanceof URL ? path : new URL(path, (await this.endpoint(registry)).origin);
  }

  private async ping(registry: string): Promise<Endpoint> {
    const host = apiHost(registry);
    const insecure = this.isInsecure(registry);
    if (!insecure && !isLoopbackHost(registry)) return this.pingAt(registry, { origin: `https://${host}`, insecureTls: false });
    try {
      return await this.pingAt(registry, { origin: `https://${host}`, insecureTls: insecure });
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'NETWORK' && err.status === undefined && !isCertificateError(err)) {
        return this.pingAt(registry, { origin: `http://${host}`, insecureTls: false });
      }
      throw err;
    }
  }

  private async pingAt(registry: string, ep: Endpoint): Promise<Endpoint> {
    const url = new URL('/v2/', ep.origin);
    const what = `connecting to registry ${registry}`;
    let res: HttpResponse;
    try {
      res = await this.transport.send({ method: 'GET', url, insecureTls: ep.insecureTls });
    } catch (err) {
      throw networkError(what, 'GET', url, registry, err);
    }
    const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.status === 200) {
      this.auth.setChallenge(registry, { scheme: 'none', params: {} });
    } else if (res.status === 401) {
      const ch = parseChallenge(res.headers['www-authenticate']);
      if (!ch) throw new RegistryError('REGISTRY', `${what}: 401 without a usable WWW-Authenticate challenge [GET ${url}]`, { status: 401, method: 'GET', url: url.toString(), ociErrors: [] });
      this.auth.setChallenge(registry, ch);
    } else if (res.status === 404) {
      throw new RegistryError('REGISTRY', `${what}: ${url.origin} does not serve the registry API (GET /v2/ answered 404)`, { status: 404, method: 'GET', url: url.toString(), ociErrors: [] });
    } else {
      throw httpError(what, 'GET', url, res.status, res.headers, body);
    }
    return ep;
  }

  /**
   * One authenticated exchange (no retry here): on a 401 carrying a fresh
   * challenge, re-authorises once (new realm/scope, expired token).
   */
  private async exchange(registry: string, spec: RequestSpec): Promise<HttpResponse> {
    const ep = await this.endpoint(registry);
    const url = spec.path instanceof URL ? spec.path : new URL(spec.path, ep.origin);
    const sameOrigin = url.origin === ep.origin;
    let scopes = spec.scopes;
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = { ...spec.headers };
      if (sameOrigin) {
        const a = await this.auth.header(registry, scopes, round > 0);
        if (a) headers.Authorization = a;
      }
      let res: HttpResponse;
      try {
        // a redirect target on another origin is verified unless it is named in --insecure-registry itself
        const insecureTls = sameOrigin ? ep.insecureTls : this.isInsecure(url.host);
        res = await this.transport.send({ method: spec.method, url, headers, body: typeof spec.body === 'function' ? spec.body() : spec.body, insecureTls });
      } catch (err) {
        if (err instanceof XbuildError) throw err;
        throw sameOrigin ? networkError(spec.what, spec.method, url, registry, err) : networkError(spec.what, spec.method, url, url.host, err, registry);
      }
      if (res.status === 401 && round === 0 && sameOrigin && typeof spec.body !== 'function') {
        const ch = parseChallenge(res.headers['www-authenticate']);
        const before = this.auth.challenge(registry);
        if (ch && (ch.scheme !== before?.scheme || ch.scheme === 'bearer')) {
          drain(res);
          this.auth.setChallenge(registry, ch);
          if (ch.params.scope) scopes = [...new Set([...scopes, ...ch.params.scope.split(' ')])];
          continue;
        }
      }
      return res;
    }
  }

  /** exchange + turn error statuses into RegistryErrors (body read for OCI error codes). */
  async call(registry: string, spec: RequestSpec, ok: (status: number) => boolean): Promise<HttpResponse> {
    const res = await this.exchange(registry, spec);
    if (ok(res.status)) return res;
    const url = await this.url(registry, spec.path);
    const body = spec.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    throw await this.statusError(registry, spec, url, res, body);
  }

  /** `call` whose response needs no body: drained, only the status and headers are kept. */
  async callDrained(registry: string, spec: RequestSpec, ok: (status: number) => boolean): Promise<HttpResponse> {
    const res = await this.call(registry, spec, ok);
    drain(res);
    return res;
  }

  private async statusError(registry: string, spec: RequestSpec, url: URL, res: HttpResponse, body: Buffer): Promise<RegistryError> {
    const err = httpError(spec.what, spec.method, url, res.status, res.headers, body);
    if (err.code === 'NOT_FOUND' && /\/manifests\//.test(url.pathname)) {
      return new RegistryError('NOT_FOUND', err.message, { status: err.status, method: err.method, url: err.url, ociErrors: err.ociErrors },
        { hint: 'check the repository and tag; names are normalised as Docker does ("debian" = docker.io/library/debian:latest)' });
    }
    if (err.code !== 'UNAUTHORIZED') return err;
    const cred = await this.auth.credentials(registry).catch(() => undefined);
    const ch = parseChallenge(res.headers['www-authenticate']);
    const insufficient = ch?.params.error === 'insufficient_scope';
    const info = { status: err.status, method: err.method, url: err.url, ociErrors: err.ociErrors };
    if (cred && insufficient) {
      return new RegistryError('DENIED', `${spec.what}: ${registry} denied access (insufficient scope ${ch?.params.scope ?? spec.scopes.join(' ')}) [${spec.method} ${err.url}]`, info,
        { hint: 'the credentials were accepted but lack permission for this repository' });
    }
    if (cred) {
      const who = cred.kind === 'basic' ? `user "${cred.username}"` : 'the identity token';
      return new RegistryError('UNAUTHORIZED', `${spec.what}: ${registry} rejected the credentials of ${who} (401) [${spec.method} ${err.url}]`, info,
        { hint: `check the credentials for ${registry} in ${this.auth.where()} (or its credential helper)` });
    }
    return new RegistryError('UNAUTHORIZED', `${spec.what}: ${registry} requires authentication and no credentials were found for it (401) [${spec.method} ${err.url}]`, info,
      { hint: `log in (docker login ${registry}) or add credentials to ${this.auth.where()}` });
  }

  private readonly logRetry = (err: XbuildError, attempt: number, delayMs: number): void => {
    this.onProgress({ kind: 'log', message: `retrying in ${(delayMs / 1000).toFixed(1)} s after attempt ${attempt}/${this.retry.attempts}: ${err.message}` });
  };

  /** The shared policy for a whole operation. */
  retrying<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
    return withRetry(this.retry, fn, this.logRetry);
  }

  /** The shared policy for a loop that resumes itself after each wait (with a deadline and a cancel signal). */
  retryBudget(limits: BudgetLimits = {}): RetryBudget {
    return new RetryBudget(this.retry, this.logRetry, limits);
  }

  /** The Location of an upload session (POST/PATCH answers), absolute. */
  async uploadLocation(registry: string, res: HttpResponse, what: string): Promise<URL> {
    const loc = res.headers.location;
    if (!loc) throw new XbuildError('REGISTRY', `${what}: the registry answered ${res.status} without an upload Location`);
    return new URL(loc, (await this.endpoint(registry)).origin);
  }
}
