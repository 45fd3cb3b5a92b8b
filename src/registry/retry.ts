// The one retry policy of the registry client: transient failures (network,
// 429, 5xx) are retried with capped exponential backoff and jitter, honouring
// Retry-After; permanent ones fail at once. `withRetry` runs a whole operation
// again; streaming loops (blob download, chunked upload) keep a RetryBudget and
// resume where they were after `budget.wait(err)` returns (their resume hook).
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

export type OnRetry = (err: XbuildError, attempt: number, delayMs: number) => void;

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

/** Limits of one streaming operation beyond the attempt count. */
export interface BudgetLimits {
  /** Epoch ms after which no retry starts (the error says the deadline passed). */
  deadline?: number;
  /** How the deadline is named in the error ("the deadline for one blob (1800 s)"). */
  deadlineName?: string;
  /** The consumer gave up: `wait` returns at once and the loop must stop (check `signal.aborted`). */
  signal?: AbortSignal;
}

/** Failures counted against `attempts`; a loop that made real progress may `reset()` it. */
export class RetryBudget {
  failures = 0;
  constructor(private readonly o: RetryOptions, private readonly onRetry?: OnRetry, private readonly limits: BudgetLimits = {}) {}

  /**
   * Rethrows `err` unless it is retryable and attempts remain (then says
   * "gave up after N attempts"), or the deadline passed; otherwise reports and
   * waits the backoff (never past the deadline), so the caller can resume.
   * A cancelled operation returns at once without reporting anything.
   */
  async wait(err: unknown): Promise<void> {
    if (this.limits.signal?.aborted) return;
    if (!(err instanceof XbuildError) || !err.retryable) throw err;
    this.failures++;
    if (this.failures >= this.o.attempts) throw gaveUp(err, this.failures);
    const deadline = this.limits.deadline;
    if (deadline !== undefined && Date.now() >= deadline) throw gaveUp(err, this.failures, `${this.limits.deadlineName ?? 'the deadline'} passed`);
    if (err instanceof RegistryError && err.retryAfterMs !== undefined && err.retryAfterMs > RETRY_AFTER_CAP_MS) {
      throw gaveUp(err, this.failures, `the registry asks to wait ${Math.ceil(err.retryAfterMs / 1000)} s before retrying`);
    }
    const delay = Math.min(backoffMs(this.failures, this.o, err), deadline === undefined ? Infinity : Math.max(0, deadline - Date.now()));
    this.onRetry?.(err, this.failures, delay);
    await sleep(delay, this.limits.signal);
  }

  /** A connection that delivered a good part of the data earns a fresh budget. */
  reset(): void {
    this.failures = 0;
  }
}

/**
 * Run `fn` until it succeeds, fails permanently, or attempts run out. When they
 * do, the error says so ("... (gave up after 5 attempts)") and keeps its code.
 */
export async function withRetry<T>(o: RetryOptions, fn: (attempt: number) => Promise<T>, onRetry?: OnRetry): Promise<T> {
  const budget = new RetryBudget(o, onRetry);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      await budget.wait(err);
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
