// Distribution API client: manifests, blobs, uploads (HEAD -> cross-repo
// mount -> monolithic or chunked upload), auth and retries.
//
//   const c = new RegistryClient({ env, insecureRegistries, onProgress, retry });
//   const { body, mediaType, digest } = await c.getManifest(ref);
//   const stream = await c.getBlob({ registry, repository }, desc); // verified at EOF, resumes after resets
//   await c.pushBlob(dst, desc, opener, { mountFrom: layer.source }); // 'exists' | 'mounted' | 'uploaded'
//   await c.putManifest(dstRef, mediaType, body);                     // push only after every blob
//
// Progress: getBlob and pushBlob report `bytes` events (id = digest) and
// pushBlob a `done` event whose note is exists/mounted/uploaded; retries are
// reported as `log` events.
import { Readable, pipeline } from 'node:stream';
import type { LookupFunction } from 'node:net';
import { XbuildError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import type { Descriptor, Opener } from '../oci/model.ts';
import { formatReference, type RegistryReference } from '../oci/reference.ts';
import { sha256Digest, verifyingStream, digestHex, digestMismatch } from '../oci/digest.ts';
import { XBUILD_VERSION } from '../version.ts';
import { Authenticator, parseChallenge, pullScope, pushScope } from './auth.ts';
import type { Env } from './credentials.ts';
import { RegistryError, httpError, networkError } from './errors.ts';
import { DEFAULT_RETRY, gaveUp, withRetry, backoffMs, sleep, type RetryOptions } from './retry.ts';
import { Transport, readBody, drain, isLoopbackHost, hostOf, type HttpResponse } from './transport.ts';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
export const DEFAULT_MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.dockerManifest];
const MANIFEST_MAX = 4 * 1024 * 1024;
const PROGRESS_RESETS_RETRIES_BYTES = 1024 * 1024;

export interface RepositoryName { registry: string; repository: string }

export interface RegistryClientOptions {
  /** Environment for credentials (DOCKER_CONFIG, HOME, PATH for credential helpers). */
  env: Env;
  /** host[:port] spoken to without TLS verification, or over plain HTTP when it has no TLS. Loopback always may. */
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
/** When Range is ignored, a blob is re-read from byte 0 only while the bytes moved stay under this many times its size. */
const IGNORED_RANGE_MAX_FACTOR = 3;

interface Endpoint { origin: string; insecureTls: boolean }

interface RequestSpec {
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

export class RegistryClient {
  private readonly transport: Transport;
  private readonly auth: Authenticator;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private readonly retry: RetryOptions;
  private readonly onProgress: OnProgress;
  private readonly insecure: Set<string>;
  private readonly monolithicMax: number;
  private readonly chunkBytes: number;

  constructor(readonly opts: RegistryClientOptions) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.onProgress = opts.onProgress ?? noProgress;
    this.insecure = new Set((opts.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.monolithicMax = opts.monolithicMaxBytes ?? 32 * 1024 * 1024;
    this.chunkBytes = opts.chunkBytes ?? 8 * 1024 * 1024;
    this.transport = new Transport({ userAgent: opts.userAgent ?? `xbuild/${XBUILD_VERSION}`, lookup: opts.lookup, // a shorter stall limit also bounds the wait for response headers (the body's own stall check,
      // which names the problem, runs first: the socket's limit is twice as long)
      idleTimeoutMs: opts.idleTimeoutMs ?? (opts.stallTimeoutMs !== undefined && opts.stallTimeoutMs < 60_000 ? 2 * opts.stallTimeoutMs : undefined), connectTimeoutMs: opts.connectTimeoutMs });
    this.auth = new Authenticator({ env: opts.env, transport: this.transport, insecureTls: (h) => this.isInsecure(h) });
  }

  /** Close idle keep-alive sockets (lets a short-lived process exit at once). */
  close(): void {
    this.transport.close();
  }

  private isInsecure(registry: string): boolean {
    const r = registry.toLowerCase();
    return this.insecure.has(r) || this.insecure.has(hostOf(r));
  }

  // ---- endpoint + auth ---------------------------------------------------

  /** Which origin to speak to (scheme decided as Docker does) and the registry's auth challenge (GET /v2/). */
  private endpoint(registry: string): Promise<Endpoint> {
    let p = this.endpoints.get(registry);
    if (!p) {
      p = withRetry(this.retry, () => this.ping(registry), (e, n, d) => this.logRetry(e, n, d));
      this.endpoints.set(registry, p);
      p.catch(() => this.endpoints.delete(registry));
    }
    return p;
  }

  private async ping(registry: string): Promise<Endpoint> {
    const host = apiHost(registry);
    if (isLoopbackHost(registry)) return this.pingAt(registry, { origin: `http://${host}`, insecureTls: false });
    if (!this.isInsecure(registry)) return this.pingAt(registry, { origin: `https://${host}`, insecureTls: false });
    try {
      return await this.pingAt(registry, { origin: `https://${host}`, insecureTls: true });
    } catch (err) {
      // An insecure registry without TLS: fall back to plain HTTP, as Docker does.
      if (err instanceof RegistryError && err.code === 'NETWORK' && err.status === undefined) {
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
        res = await this.transport.send({ method: spec.method, url, headers, body: typeof spec.body === 'function' ? spec.body() : spec.body, insecureTls: ep.insecureTls });
      } catch (err) {
        if (err instanceof XbuildError) throw err;
        throw networkError(spec.what, spec.method, url, registry, err);
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
  private async call(registry: string, spec: RequestSpec, ok: (status: number) => boolean): Promise<HttpResponse> {
    const res = await this.exchange(registry, spec);
    if (ok(res.status)) return res;
    const url = spec.path instanceof URL ? spec.path : new URL(spec.path, (await this.endpoint(registry)).origin);
    const body = spec.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    throw await this.statusError(registry, spec, url, res, body);
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

  private logRetry(err: XbuildError, attempt: number, delayMs: number): void {
    this.onProgress({ kind: 'log', message: `retrying in ${(delayMs / 1000).toFixed(1)} s after attempt ${attempt}/${this.retry.attempts}: ${err.message}` });
  }

  private retrying<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(this.retry, fn, (e, n, d) => this.logRetry(e, n, d));
  }

  // ---- manifests ---------------------------------------------------------

  /** GET a manifest by digest (verified) or tag. `digest` is the sha256 of `body`. */
  async getManifest(ref: RegistryReference, accept: string[] = DEFAULT_MANIFEST_ACCEPT): Promise<{ mediaType: string; digest: string; body: Buffer }> {
    const name = formatReference(ref);
    const what = `getting manifest ${name}`;
    const spec: RequestSpec = {
      what, method: 'GET', path: manifestPath(ref), scopes: [pullScope(ref.repository)],
      headers: { Accept: accept.join(', ') },
    };
    return this.retrying(async () => {
      const res = await this.call(ref.registry, spec, (s) => s === 200);
      let body: Buffer;
      try {
        body = await readBody(res, MANIFEST_MAX);
      } catch (err) {
        throw networkError(what, 'GET', new URL(spec.path as string, (await this.endpoint(ref.registry)).origin), ref.registry, err);
      }
      const digest = sha256Digest(body);
      if (ref.digest && digest !== ref.digest) throw digestMismatch(`manifest ${name}`, { digest: ref.digest }, { digest });
      return { mediaType: manifestMediaType(res.headers['content-type'], body), digest, body };
    });
  }

  /** HEAD a manifest: undefined when the tag/digest does not exist. */
  async headManifest(ref: RegistryReference): Promise<{ mediaType: string; digest: string; size: number } | undefined> {
    const spec: RequestSpec = {
      what: `checking manifest ${formatReference(ref)}`, method: 'HEAD', path: manifestPath(ref),
      scopes: [pullScope(ref.repository)], headers: { Accept: DEFAULT_MANIFEST_ACCEPT.join(', ') },
    };
    return this.retrying(async () => {
      const res = await this.call(ref.registry, spec, (s) => s === 200 || s === 404);
      drain(res);
      if (res.status === 404) return undefined;
      const digest = String(res.headers['docker-content-digest'] ?? '');
      if (!digest) {
        // Not all registries send the digest on HEAD: fall back to GET.
        const m = await this.getManifest(ref);
        return { mediaType: m.mediaType, digest: m.digest, size: m.body.length };
      }
      return { mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(), digest, size: Number(res.headers['content-length'] ?? 0) };
    });
  }

  /** PUT a manifest under a tag or digest; returns its digest. Call only after every blob it names is pushed. */
  async putManifest(ref: RegistryReference, mediaType: string, body: Buffer): Promise<string> {
    const digest = sha256Digest(body);
    if (ref.digest && ref.digest !== digest) throw digestMismatch(`manifest for ${formatReference(ref)}`, { digest: ref.digest }, { digest });
    const spec: RequestSpec = {
      what: `pushing manifest ${formatReference(ref)}`, method: 'PUT', path: manifestPath({ ...ref, digest: ref.tag ? undefined : ref.digest }),
      scopes: [pushScope(ref.repository)], headers: { 'Content-Type': mediaType }, body,
    };
    return this.retrying(async () => {
      const res = await this.call(ref.registry, spec, (s) => s === 201 || s === 200 || s === 202);
      drain(res);
      const echoed = res.headers['docker-content-digest'];
      if (typeof echoed === 'string' && echoed.startsWith('sha256:') && echoed !== digest) {
        throw digestMismatch(`manifest pushed to ${formatReference(ref)} (registry computed ${echoed})`, { digest }, { digest: echoed });
      }
      return digest;
    });
  }

  // ---- blobs ---------------------------------------------------------------

  async hasBlob(repo: RepositoryName, digest: string): Promise<boolean> {
    digestHex(digest);
    const spec: RequestSpec = { what: `checking blob ${digest} in ${repo.registry}/${repo.repository}`, method: 'HEAD', path: blobPath(repo, digest), scopes: [pullScope(repo.repository)] };
    return this.retrying(async () => {
      // A 3xx answer proves nothing (a misbehaving registry, a login page): only 200 counts as
      // present; anything else in 3xx is treated as absent, so the blob is uploaded.
      const res = await this.call(repo.registry, spec, (s) => s === 200 || (s >= 300 && s < 400) || s === 404);
      drain(res);
      return res.status === 200;
    });
  }

  /**
   * The blob as a stream checked against `desc` (digest and size) at EOF.
   * Resolves once the registry has answered; a connection lost mid-blob is
   * resumed with a Range request (or re-read and skipped) up to `retry.attempts` times.
   */
  async getBlob(repo: RepositoryName, desc: Descriptor): Promise<Readable> {
    digestHex(desc.digest);
    const label = `blob ${desc.digest} of ${repo.registry}/${repo.repository}`;
    const what = `pulling ${label}`;
    const deadline = Date.now() + (this.opts.blobDeadlineMs ?? DEFAULT_BLOB_DEADLINE_MS);
    const first = await this.retrying(() => this.openBlob(repo, desc, 0, what));
    // A consumer that gives up (destroys the stream) cancels the reader: no more retries, no more requests.
    const cancel = new AbortController();
    const chunks = this.blobChunks(repo, desc, first, what, deadline, cancel.signal);
    const src = Readable.from(chunks, { objectMode: false });
    const out = verifyingStream(desc, label);
    out.on('close', () => cancel.abort());
    pipeline(src, out, () => { /* errors reach the consumer through `out` */ });
    return out;
  }

  private async openBlob(repo: RepositoryName, desc: Descriptor, offset: number, what: string): Promise<HttpResponse> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    let path: string | URL = blobPath(repo, desc.digest);
    for (let hop = 0; hop < 6; hop++) {
      const res = await this.call(repo.registry, { what, method: 'GET', path, scopes: [pullScope(repo.repository)], headers },
        (s) => s === 200 || s === 206 || (s >= 300 && s < 400));
      if (res.status < 300 || res.status >= 400) return res;
      drain(res);
      const loc = res.headers.location;
      if (!loc) throw new XbuildError('REGISTRY', `${what}: redirect without Location`);
      const base: URL = path instanceof URL ? path : new URL(path, (await this.endpoint(repo.registry)).origin);
      path = new URL(loc, base);
    }
    throw new XbuildError('REGISTRY', `${what}: too many redirects`);
  }

  private async *blobChunks(repo: RepositoryName, desc: Descriptor, first: HttpResponse, what: string, deadline: number, cancelled: AbortSignal): AsyncGenerator<Buffer> {
    let res: HttpResponse | undefined = first;
    let offset = 0;
    let moved = 0; // bytes received, skipped ones included
    let failures = 0;
    let lastReport = 0;
    const id = desc.digest;
    const labelShort = desc.digest.slice(7, 19);
    const stallMs = this.opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    const onCancel = () => res?.body.destroy();
    cancelled.addEventListener('abort', onCancel);
    try {
      for (;;) {
        let skip = 0;
        try {
          if (!res) res = await this.openBlob(repo, desc, offset, what);
          // 200 to a Range request: the registry ignored it; skip what we have.
          const rangeIgnored = offset > 0 && res.status === 200;
          if (rangeIgnored) skip = offset;
          else if (offset > 0 && res.status === 206) {
            const cr = String(res.headers['content-range'] ?? '');
            const start = /^bytes (\d+)-/.exec(cr)?.[1];
            if (start !== undefined && Number(start) !== offset) throw new XbuildError('REGISTRY', `${what}: asked for bytes from ${offset}, got "${cr}"`);
          }
          // A connection that delivered a good part of the blob earns a fresh retry budget,
          // unless it had to re-send what we already had (no Range): that would be quadratic.
          const progressAt = offset;
          const body = res.body;
          const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
          for (;;) {
            const c = await nextWithin(it, body, Math.min(stallMs, Math.max(0, deadline - Date.now())), () => new XbuildError('NETWORK',
              Date.now() >= deadline ? `${what}: not complete when its deadline passed (${offset} of ${desc.size} bytes)`
                : `${what}: the registry stopped sending (nothing for ${Math.round(stallMs / 1000)} s after ${offset} of ${desc.size} bytes)`,
              { retryable: true }));
            if (c === undefined) break;
            let b = c;
            moved += b.length;
            if (skip > 0) {
              if (b.length <= skip) { skip -= b.length; continue; }
              b = b.subarray(skip); skip = 0;
            }
            offset += b.length;
            if (!rangeIgnored && offset - progressAt >= PROGRESS_RESETS_RETRIES_BYTES) failures = 0;
            if (offset - lastReport >= 256 * 1024 || offset === desc.size) {
              lastReport = offset;
              this.onProgress({ kind: 'bytes', id, label: labelShort, done: offset, total: desc.size });
            }
            yield b;
          }
          if (offset >= desc.size) return;
          throw Object.assign(new Error(`connection closed after ${offset} of ${desc.size} bytes`), { code: 'ECONNRESET' });
        } catch (err) {
          res?.body.destroy();
          res = undefined;
          if (cancelled.aborted) return; // the consumer gave up: its error is the one reported
          const x = err instanceof XbuildError ? err
            : networkError(what, 'GET', new URL(blobPath(repo, desc.digest), (await this.endpoint(repo.registry)).origin), repo.registry, err);
          if (!x.retryable) throw x;
          failures++;
          if (failures >= this.retry.attempts) throw gaveUp(x, failures);
          if (Date.now() >= deadline) throw gaveUp(x, failures, `the deadline for one blob (${Math.round((this.opts.blobDeadlineMs ?? DEFAULT_BLOB_DEADLINE_MS) / 1000)} s) passed`);
          if (moved > IGNORED_RANGE_MAX_FACTOR * desc.size + PROGRESS_RESETS_RETRIES_BYTES) {
            throw gaveUp(x, failures, `the registry ignores Range requests, and ${moved} bytes were moved for a ${desc.size}-byte blob`);
          }
          const delay = Math.min(backoffMs(failures, this.retry, x), Math.max(0, deadline - Date.now()));
          this.logRetry(x, failures, delay);
          await sleep(delay, cancelled);
          if (cancelled.aborted) return;
        }
      }
    } finally {
      cancelled.removeEventListener('abort', onCancel);
      res?.body.destroy();
    }
  }

  /**
   * Make `desc` present in `repo`: HEAD (exists) -> cross-repository mount from
   * `mountFrom` when it is on the same registry -> upload from `open()`
   * (one PUT up to monolithicMaxBytes, PATCH chunks above). The uploaded bytes
   * are checked against `desc` as they are read.
   */
  async pushBlob(repo: RepositoryName, desc: Descriptor, open: Opener, opts: { mountFrom?: RepositoryName } = {}): Promise<'exists' | 'mounted' | 'uploaded'> {
    digestHex(desc.digest);
    const label = desc.digest.slice(7, 19);
    const done = (note: 'exists' | 'mounted' | 'uploaded') => { this.onProgress({ kind: 'done', id: desc.digest, label, note }); return note; };
    if (await this.hasBlob(repo, desc.digest)) return done('exists');
    const what = `pushing blob ${desc.digest} to ${repo.registry}/${repo.repository}`;
    const mount = opts.mountFrom && opts.mountFrom.registry === repo.registry && opts.mountFrom.repository !== repo.repository ? opts.mountFrom : undefined;
    let attempt = 0;
    return this.retrying(async () => {
      // After a failed attempt the blob may have landed anyway (answer lost): check first.
      if (++attempt > 1 && await this.hasBlob(repo, desc.digest)) return done('uploaded');
      let location: URL;
      if (mount) {
        const q = new URLSearchParams({ mount: desc.digest, from: mount.repository });
        const res = await this.call(repo.registry, {
          what, method: 'POST', path: `/v2/${repo.repository}/blobs/uploads/?${q}`,
          scopes: [pushScope(repo.repository), pullScope(mount.repository)],
        }, (s) => s === 201 || s === 202);
        drain(res);
        if (res.status === 201) return done('mounted');
        location = await this.uploadLocation(repo.registry, res, what);
      } else {
        location = await this.startUpload(repo, what);
      }
      await this.upload(repo, desc, open, location, what);
      return done('uploaded');
    });
  }

  /**
   * PATCH one chunk (held in memory). After a transient failure, ask the
   * registry how much of the session it holds (GET location -> Range: 0-N)
   * and resend only what is missing; the session survives.
   */
  private async sendChunk(repo: RepositoryName, location: URL, chunk: Buffer, offset: number, what: string): Promise<URL> {
    const scopes = [pushScope(repo.repository)];
    let loc = location;
    let have = 0; // bytes of this chunk the registry holds
    for (let failures = 0; ;) {
      try {
        const part = chunk.subarray(have);
        const res = await this.call(repo.registry, {
          what, method: 'PATCH', path: loc, scopes, body: part,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset + have}-${offset + chunk.length - 1}` },
        }, (st) => st === 202 || st === 204);
        drain(res);
        return await this.uploadLocation(repo.registry, res, what);
      } catch (err) {
        if (!(err instanceof XbuildError) || !err.retryable) throw err;
        if (++failures >= this.retry.attempts) throw gaveUp(err, failures);
        const delay = backoffMs(failures, this.retry, err);
        this.logRetry(err, failures, delay);
        await sleep(delay);
        const status = await this.call(repo.registry, { what: `${what} (upload status)`, method: 'GET', path: loc, scopes }, (st) => st === 204)
          .catch(() => undefined);
        if (!status) throw err; // session gone: the caller starts a new one
        drain(status);
        const last = parseUploadRange(status.headers.range);
        // distribution answers "0-0" for both 0 and 1 byte received; 0 is the safe reading at a chunk start
        const received = last === undefined || (last === 0 && offset === 0) ? 0 : last + 1;
        if (received < offset || received > offset + chunk.length) throw err;
        have = received - offset;
        if (status.headers.location) loc = await this.uploadLocation(repo.registry, status, what);
        if (have === chunk.length) return loc;
      }
    }
  }

  private async startUpload(repo: RepositoryName, what: string): Promise<URL> {
    const res = await this.call(repo.registry, { what, method: 'POST', path: `/v2/${repo.repository}/blobs/uploads/`, scopes: [pushScope(repo.repository)] }, (s) => s === 202);
    drain(res);
    return this.uploadLocation(repo.registry, res, what);
  }

  private async uploadLocation(registry: string, res: HttpResponse, what: string): Promise<URL> {
    const loc = res.headers.location;
    if (!loc) throw new XbuildError('REGISTRY', `${what}: the registry answered ${res.status} without an upload Location`);
    return new URL(loc, (await this.endpoint(registry)).origin);
  }

  private async upload(repo: RepositoryName, desc: Descriptor, open: Opener, location: URL, what: string): Promise<void> {
    const scopes = [pushScope(repo.repository)];
    const source = await open();
    const verified = verifyingStream(desc, `source of blob ${desc.digest}`);
    let sent = 0;
    let lastReport = 0;
    const report = (n: number) => {
      sent += n;
      if (sent - lastReport >= 256 * 1024 || sent === desc.size) {
        lastReport = sent;
        this.onProgress({ kind: 'bytes', id: desc.digest, label: desc.digest.slice(7, 19), done: sent, total: desc.size });
      }
    };
    pipeline(source, verified, () => {});
    const finish = (loc: URL, body?: Readable) => {
      const u = new URL(loc);
      u.searchParams.set('digest', desc.digest);
      return { what, method: 'PUT', path: u, scopes, body: body ? () => body : undefined, headers: { 'Content-Type': 'application/octet-stream', ...(body ? { 'Content-Length': String(desc.size) } : {}) } } satisfies RequestSpec;
    };
    try {
      if (desc.size <= this.monolithicMax) {
        verified.on('data', (c: Buffer) => report(c.length));
        verified.pause();
        const res = await this.call(repo.registry, finish(location, verified), (s) => s === 201 || s === 204);
        drain(res);
        return;
      }
      let loc = location;
      let offset = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        const chunk = Buffer.concat(pending, pendingBytes);
        pending = []; pendingBytes = 0;
        loc = await this.sendChunk(repo, loc, chunk, offset, what);
        offset += chunk.length;
        report(chunk.length);
      };
      for await (const c of verified) {
        let b = c as Buffer;
        while (pendingBytes + b.length >= this.chunkBytes) {
          const take = this.chunkBytes - pendingBytes;
          pending.push(b.subarray(0, take)); pendingBytes += take;
          b = b.subarray(take);
          await flush();
        }
        if (b.length > 0) { pending.push(b); pendingBytes += b.length; }
      }
      if (pendingBytes > 0) await flush();
      const res = await this.call(repo.registry, finish(loc), (s) => s === 201 || s === 204);
      drain(res);
    } finally {
      source.destroy();
      verified.destroy();
    }
  }
}

export function parseUploadRange(v: string | string[] | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(Array.isArray(v) ? v[0] : v ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

function manifestPath(ref: RegistryReference): string {
  const r = ref.digest ?? ref.tag;
  if (!r) throw new XbuildError('BAD_REFERENCE', `${ref.registry}/${ref.repository} has neither tag nor digest`);
  return `/v2/${ref.repository}/manifests/${r}`;
}

function blobPath(repo: RepositoryName, digest: string): string {
  return `/v2/${repo.repository}/blobs/${digest}`;
}

/** Content-Type without parameters; when absent or generic, the body's own mediaType. */
function manifestMediaType(contentType: string | undefined, body: Buffer): string {
  const ct = (contentType ?? '').split(';')[0]!.trim();
  if (ct && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  try {
    const j = JSON.parse(body.toString()) as { mediaType?: string; manifests?: unknown; config?: unknown };
    if (typeof j.mediaType === 'string') return j.mediaType;
    if (j.manifests) return MEDIA_TYPES.ociIndex;
    if (j.config) return MEDIA_TYPES.ociManifest;
  } catch { /* not JSON: report the header */ }
  return ct || 'application/octet-stream';
}

/** The next chunk of `body` (undefined at its end), or `onTimeout()` thrown after `ms` without data. */
async function nextWithin(it: AsyncIterator<Buffer>, body: Readable, ms: number, onTimeout: () => Error): Promise<Buffer | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const next = it.next();
  next.catch(() => { /* after a timeout the destroyed body rejects here; the timeout is what is reported */ });
  try {
    const r = await Promise.race([
      next,
      new Promise<never>((_, rej) => { timer = setTimeout(() => { const e = onTimeout(); body.destroy(); rej(e); }, ms); }),
    ]);
    return r.done ? undefined : r.value;
  } finally {
    clearTimeout(timer);
  }
}
