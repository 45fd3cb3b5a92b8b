// Registry errors keep status, method, redacted URL and the OCI error codes,
// map them to XbuildError codes, and say whether a retry can help.
import { XbuildError, type ErrorCode } from '../errors.ts';

/** One entry of the Distribution spec's error body: {"errors":[{code,message,detail}]}. */
export interface OciErrorEntry { code: string; message?: string; detail?: unknown }

export interface RegistryErrorInfo {
  status?: number;
  method: string;
  url: string;             // already redacted
  ociErrors: OciErrorEntry[];
  retryAfterMs?: number;
}

export class RegistryError extends XbuildError {
  readonly status?: number;
  readonly method: string;
  readonly url: string;
  readonly ociErrors: OciErrorEntry[];
  readonly retryAfterMs?: number;
  constructor(code: ErrorCode, message: string, info: RegistryErrorInfo, opts: { hint?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, opts);
    this.status = info.status;
    this.method = info.method;
    this.url = info.url;
    this.ociErrors = info.ociErrors;
    this.retryAfterMs = info.retryAfterMs;
  }
}

// Query parameters that are safe to show; every other value is replaced.
const SAFE_QUERY = new Set(['digest', 'mount', 'from', 'n', 'last', 'scope', 'service']);

/** A URL without credentials, tokens or upload state: fit for messages and logs. */
export function redactUrl(u: string | URL): string {
  let url: URL;
  try { url = new URL(String(u)); } catch { return '<invalid url>'; }
  url.username = '';
  url.password = '';
  for (const k of [...url.searchParams.keys()]) {
    if (!SAFE_QUERY.has(k)) url.searchParams.set(k, 'REDACTED');
  }
  return url.toString();
}

export function parseOciErrors(body: Buffer | string | undefined): OciErrorEntry[] {
  if (!body || body.length === 0) return [];
  try {
    const j = JSON.parse(body.toString()) as { errors?: unknown };
    if (!Array.isArray(j.errors)) return [];
    return j.errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => ({ code: String(e.code), message: typeof e.message === 'string' ? e.message : undefined, detail: e.detail }));
  } catch {
    return [];
  }
}

/** Retry-After: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

/** Map an HTTP error response to an XbuildError code. */
export function classifyStatus(status: number, oci: OciErrorEntry[]): { code: ErrorCode; retryable: boolean } {
  const codes = new Set(oci.map((e) => e.code));
  if (codes.has('DIGEST_INVALID') || codes.has('SIZE_INVALID')) return { code: 'DIGEST_MISMATCH', retryable: false };
  if (status === 401 || codes.has('UNAUTHORIZED')) return { code: 'UNAUTHORIZED', retryable: false };
  if (status === 403 || codes.has('DENIED')) return { code: 'DENIED', retryable: false };
  if (status === 404 || [...codes].some((c) => NOT_FOUND_CODES.has(c))) return { code: 'NOT_FOUND', retryable: false };
  if (status === 429 || codes.has('TOOMANYREQUESTS')) return { code: 'REGISTRY', retryable: true };
  if (status === 408 || status >= 500) return { code: 'REGISTRY', retryable: true };
  return { code: 'REGISTRY', retryable: false };
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large', 416: 'Range Not Satisfiable',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function httpError(what: string, method: string, url: string | URL, status: number, headers: Record<string, string | string[] | undefined>, body?: Buffer): RegistryError {
  const oci = parseOciErrors(body);
  const { code, retryable } = classifyStatus(status, oci);
  const red = redactUrl(url);
  const ociText = oci.length > 0
    ? oci.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ')
    : (body && body.length > 0 && body.length < 200 && !/[\r\n]/.test(body.toString().trim()) ? body.toString().trim() : '');
  const msg = `${what}: ${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd() + `${ociText ? ` (${ociText})` : ''} [${method} ${red}]`;
  let hint: string | undefined;
  if (code === 'UNAUTHORIZED') hint = 'check the credentials for this registry (docker login / $DOCKER_CONFIG/config.json / credential helper)';
  else if (code === 'DENIED') hint = 'the credentials were accepted but lack permission for this repository';
  return new RegistryError(code, msg, { status, method, url: red, ociErrors: oci, retryAfterMs: parseRetryAfter(headers['retry-after']) }, { hint, retryable });
}

const TRANSIENT_NET = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);
// TLS handshake against a plain-HTTP server fails with one of these.
const HTTP_ON_TLS = /wrong version number|packet length too long|unknown protocol|EPROTO|record layer failure/i;

const CERTIFICATE = /certificate|self[- ]signed|CERT_|UNABLE_TO_VERIFY|ERR_TLS_CERT/i;

/** The TLS peer's certificate was not accepted (never a reason to fall back to plain HTTP). */
export function isCertificateError(err: RegistryError): boolean {
  const c = err.cause as NodeJS.ErrnoException | undefined;
  return CERTIFICATE.test(`${c?.code ?? ''} ${c?.message ?? ''}`);
}

/**
 * A failed exchange with `host`. When the request followed a redirect of
 * `redirectedFrom` (the registry) to another origin, the message names the
 * redirect target and the hint what helps there (--insecure-registry names
 * the target itself, as Docker's does: the registry's entry does not cover
 * the hosts it redirects to).
 */
export function networkError(what: string, method: string, url: string | URL, host: string, err: unknown, redirectedFrom?: string): RegistryError {
  const e = err as NodeJS.ErrnoException;
  const errno = e?.code ?? '';
  const detail = errno && !String(e?.message).includes(errno) ? `${errno} ${e.message}` : String(e?.message ?? err);
  const red = redactUrl(url);
  const info = { method, url: red, ociErrors: [] };
  const via = redirectedFrom ? ` (where ${redirectedFrom} redirected)` : '';
  if (HTTP_ON_TLS.test(`${errno} ${e?.message}`)) {
    return new RegistryError('NETWORK', `${what}: ${host}${via} answered HTTPS with plain HTTP (HTTP response to HTTPS client) [${method} ${red}]`, info, {
      hint: redirectedFrom ? `${redirectedFrom} redirects to an https:// address on ${host}, which speaks plain HTTP: the registry's storage redirect is misconfigured; tell its operator`
        : `this registry speaks plain HTTP; pass --insecure-registry ${host}`, cause: err,
    });
  }
  if (CERTIFICATE.test(`${errno} ${e?.message}`)) {
    return new RegistryError('NETWORK', `${what}: TLS certificate of ${host}${via} is not trusted (${detail}) [${method} ${red}]`, info, {
      hint: redirectedFrom
        ? `${redirectedFrom} redirects to ${host}: trust that host's CA (add it to the system's CA bundle, or point NODE_EXTRA_CA_CERTS at its PEM file), or pass --insecure-registry ${host} to skip verification there`
        : `trust its CA (add it to the system's CA bundle, or point NODE_EXTRA_CA_CERTS at its PEM file), or pass --insecure-registry ${host} to skip verification`, cause: err,
    });
  }
  if (errno === 'EFBIG') {
    return new RegistryError('REGISTRY', `${what}: ${e.message} [${method} ${red}]`, info, { cause: err });
  }
  if (errno === 'ENOTFOUND') {
    return new RegistryError('NETWORK', `${what}: cannot resolve ${redirectedFrom ? 'host' : 'registry host'} ${host}${via} (${errno})`, info, { cause: err });
  }
  const retryable = TRANSIENT_NET.has(errno) || /socket hang up|premature close|aborted|terminated/i.test(String(e?.message));
  return new RegistryError('NETWORK', `${what}: cannot reach ${host}${via}: ${detail.replace(/\s*\n\s*/g, ' ')}`, info, { cause: err, retryable });
}
