// Blob download: HEAD for existence, and GET as a stream verified against the
// descriptor at EOF that follows redirects (storage backends) and resumes a
// lost connection with a Range request (or re-reads and skips when the
// registry ignores Range), under the shared retry policy.
import { Readable, pipeline } from 'node:stream';
import { XbuildError } from '../errors.ts';
import type { Descriptor } from '../oci/model.ts';
import { digestHex, verifyingStream } from '../oci/digest.ts';
import { pullScope } from './auth.ts';
import { networkError } from './errors.ts';
import { gaveUp } from './retry.ts';
import type { RegistrySession, RepositoryName } from './session.ts';
import { drain, type HttpResponse } from './transport.ts';

/** Bytes one connection must deliver to earn a fresh retry budget. */
const PROGRESS_RESETS_RETRIES_BYTES = 1024 * 1024;
const REPORT_EVERY_BYTES = 256 * 1024;
/** When Range is ignored, a blob is re-read from byte 0 only while the bytes moved stay under this many times its size. */
const IGNORED_RANGE_MAX_FACTOR = 3;

export function blobPath(repo: RepositoryName, digest: string): string {
  return `/v2/${repo.repository}/blobs/${digest}`;
}

export async function hasBlob(s: RegistrySession, repo: RepositoryName, digest: string): Promise<boolean> {
  digestHex(digest);
  const spec = { what: `checking blob ${digest} in ${repo.registry}/${repo.repository}`, method: 'HEAD', path: blobPath(repo, digest), scopes: [pullScope(repo.repository)] };
  return s.retrying(async () => {
    // A 3xx answer proves nothing (a misbehaving registry, a login page): only 200 counts as
    // present; anything else in 3xx is treated as absent, so the blob is uploaded.
    const res = await s.callDrained(repo.registry, spec, (st) => st === 200 || (st >= 300 && st < 400) || st === 404);
    return res.status === 200;
  });
}

/**
 * The blob as a stream checked against `desc` (digest and size) at EOF.
 * Resolves once the registry has answered; a connection lost mid-blob is
 * resumed with a Range request (or re-read and skipped) under the retry policy.
 */
export async function getBlob(s: RegistrySession, repo: RepositoryName, desc: Descriptor): Promise<Readable> {
  digestHex(desc.digest);
  const label = `blob ${desc.digest} of ${repo.registry}/${repo.repository}`;
  const what = `pulling ${label}`;
  const deadline = Date.now() + s.blobDeadlineMs;
  const first = await s.retrying(() => openBlob(s, repo, desc, 0, what));
  // A consumer that gives up (destroys the stream) cancels the reader: no more retries, no more requests.
  const cancel = new AbortController();
  const src = Readable.from(blobChunks(s, repo, desc, first, what, deadline, cancel.signal), { objectMode: false });
  const out = verifyingStream(desc, label);
  out.on('close', () => cancel.abort());
  pipeline(src, out, () => { /* errors reach the consumer through `out` */ });
  return out;
}

async function openBlob(s: RegistrySession, repo: RepositoryName, desc: Descriptor, offset: number, what: string): Promise<HttpResponse> {
  const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
  let path: string | URL = blobPath(repo, desc.digest);
  for (let hop = 0; hop < 6; hop++) {
    const res = await s.call(repo.registry, { what, method: 'GET', path, scopes: [pullScope(repo.repository)], headers },
      (st) => st === 200 || st === 206 || (st >= 300 && st < 400));
    if (res.status < 300 || res.status >= 400) return res;
    drain(res);
    const loc = res.headers.location;
    if (!loc) throw new XbuildError('REGISTRY', `${what}: redirect without Location`);
    path = new URL(loc, await s.url(repo.registry, path));
  }
  throw new XbuildError('REGISTRY', `${what}: too many redirects`);
}

async function* blobChunks(s: RegistrySession, repo: RepositoryName, desc: Descriptor, first: HttpResponse, what: string, deadline: number, cancelled: AbortSignal): AsyncGenerator<Buffer> {
  let res: HttpResponse | undefined = first;
  let offset = 0;
  let moved = 0; // bytes received, re-sent ones included
  let lastReport = 0;
  const budget = s.retryBudget({ deadline, deadlineName: `the deadline for one blob (${Math.round(s.blobDeadlineMs / 1000)} s)`, signal: cancelled });
  const labelShort = desc.digest.slice(7, 19);
  const onCancel = () => res?.body.destroy();
  cancelled.addEventListener('abort', onCancel);
  try {
    for (;;) {
      let skip = 0;
      try {
        if (!res) res = await openBlob(s, repo, desc, offset, what);
        // 200 to a Range request: the registry ignored it; skip what we have.
        const rangeIgnored = offset > 0 && res.status === 200;
        if (rangeIgnored) skip = offset;
        else if (offset > 0 && res.status === 206) {
          const cr = String(res.headers['content-range'] ?? '');
          const start = /^bytes (\d+)-/.exec(cr)?.[1];
          if (start !== undefined && Number(start) !== offset) throw new XbuildError('REGISTRY', `${what}: asked for bytes from ${offset}, got "${cr}"`);
        }
        const progressAt = offset;
        const body = res.body;
        const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        for (;;) {
          const c = await nextWithin(it, body, Math.min(s.stallTimeoutMs, Math.max(0, deadline - Date.now())), () => new XbuildError('NETWORK',
            Date.now() >= deadline ? `${what}: not complete when its deadline passed (${offset} of ${desc.size} bytes)`
              : `${what}: the registry stopped sending (nothing for ${Math.round(s.stallTimeoutMs / 1000)} s after ${offset} of ${desc.size} bytes)`,
            { retryable: true }));
          if (c === undefined) break;
          let b = c;
          moved += b.length;
          if (skip > 0) {
            if (b.length <= skip) { skip -= b.length; continue; }
            b = b.subarray(skip); skip = 0;
          }
          offset += b.length;
          // Progress earns a fresh budget, unless the connection re-sent what we had (no Range): that would be quadratic.
          if (!rangeIgnored && offset - progressAt >= PROGRESS_RESETS_RETRIES_BYTES) budget.reset();
          if (offset - lastReport >= REPORT_EVERY_BYTES || offset === desc.size) {
            lastReport = offset;
            s.onProgress({ kind: 'bytes', id: desc.digest, label: labelShort, done: offset, total: desc.size });
          }
          yield b;
        }
        if (offset >= desc.size) return;
        throw Object.assign(new Error(`connection closed after ${offset} of ${desc.size} bytes`), { code: 'ECONNRESET' });
      } catch (err) {
        res?.body.destroy();
        res = undefined;
        if (cancelled.aborted) return; // the consumer gave up: its error is the one reported
        const x = err instanceof XbuildError ? err : networkError(what, 'GET', await s.url(repo.registry, blobPath(repo, desc.digest)), repo.registry, err);
        if (x.retryable && moved > IGNORED_RANGE_MAX_FACTOR * desc.size + PROGRESS_RESETS_RETRIES_BYTES) {
          throw gaveUp(x, budget.failures + 1, `the registry ignores Range requests, and ${moved} bytes were moved for a ${desc.size}-byte blob`);
        }
        // resume hook: after the wait, the loop reopens the blob at `offset`
        await budget.wait(x);
        if (cancelled.aborted) return;
      }
    }
  } finally {
    cancelled.removeEventListener('abort', onCancel);
    res?.body.destroy();
  }
}

/** The next chunk (undefined at the end), or `onTimeout()` thrown after `ms` without data. */
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
