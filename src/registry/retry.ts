// Retry transient failures (network, 429, 5xx) with capped exponential
// backoff and jitter, honouring Retry-After; permanent ones fail at once.
import { XbuildError } from '../errors.ts';
import { RegistryError } from './errors.ts';

export interface RetryOptions {
  /** Total attempts, including the first (1 = no retry). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000 };
/** Retry-After values above this are not waited for: the operation fails at once and says how long to wait. */
const RETRY_AFTER_CAP_MS = 60_000;

/** Wait `ms`; an abort ends the wait at once (the caller checks the signal). */
export const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((r) => {
  if (signal?.aborted) { r(); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', done); r(); }, ms);
  const done = () => { clearTimeout(t); r(); };
  signal?.addEventListener('abort', done, { once: true });
});

export function backoffMs(attempt: number, o: RetryOptions, err?: unknown): number {
  const ra = err instanceof RegistryError ? err.retryAfterMs : undefined;
  if (ra !== undefined) return Math.min(Math.max(ra, o.baseDelayMs), RETRY_AFTER_CAP_MS);
  const exp = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + Math.random() * exp / 2);
}

/**
 * Run `fn` until it succeeds, fails permanently, or attempts run out. When they
 * do, the error says so ("... (gave up after 5 attempts)") and keeps its code.
 */
export async function withRetry<T>(o: RetryOptions, fn: (attempt: number) => Promise<T>, onRetry?: (err: XbuildError, attempt: number, delayMs: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof XbuildError) || !err.retryable) throw err;
      if (attempt >= o.attempts) throw gaveUp(err, attempt);
      if (err instanceof RegistryError && err.retryAfterMs !== undefined && err.retryAfterMs > RETRY_AFTER_CAP_MS) {
        throw gaveUp(err, attempt, `the registry asks to wait ${Math.ceil(err.retryAfterMs / 1000)} s before retrying`);
      }
      const delay = backoffMs(attempt, o, err);
      onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}

export function gaveUp(err: XbuildError, attempts: number, why?: string): XbuildError {
  const msg = `${err.message} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}${why ? `: ${why}` : ''})`;
  if (err instanceof RegistryError) {
    return new RegistryError(err.code, msg, { status: err.status, method: err.method, url: err.url, ociErrors: err.ociErrors, retryAfterMs: err.retryAfterMs }, { hint: err.hint, retryable: false, cause: err });
  }
  return new XbuildError(err.code, msg, { hint: err.hint, retryable: false, cause: err });
}
