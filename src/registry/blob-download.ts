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
import type { RegistrySession, RepositoryName } from './session.ts';
import { drain, type HttpResponse } from './transport.ts';

/** Bytes one connection must deliver to earn a fresh retry budget. */
const PROGRESS_RESETS_RETRIES_BYTES = 1024 * 1024;
const REPORT_EVERY_BYTES = 256 * 1024;

export function blobPath(repo: RepositoryName, digest: string): string {
  return `/v2/${repo.repository}/blobs/${digest}`;
}

export async function hasBlob(s: RegistrySession, repo: RepositoryName, digest: string): Promise<boolean> {
  digestHex(digest);
  const spec = { what: `checking blob ${digest} in ${repo.registry}/${repo.repository}`, method: 'HEAD', path: blobPath(repo, digest), scopes: [pullScope(repo.repository)] };
  return s.retrying(async () => {
    // Some registries redirect HEAD to their storage: a redirect means the blob exists.
    const res = await s.callDrained(repo.registry, spec, (st) => (st >= 200 && st < 400) || st === 404);
    return res.status !== 404;
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
  const first = await s.retrying(() => openBlob(s, repo, desc, 0, what));
  const src = Readable.from(blobChunks(s, repo, desc, first, what), { objectMode: false });
  const out = verifyingStream(desc, label);
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

async function* blobChunks(s: RegistrySession, repo: RepositoryName, desc: Descriptor, first: HttpResponse, what: string): AsyncGenerator<Buffer> {
  let res: HttpResponse | undefined = first;
  let offset = 0;
  let lastReport = 0;
  const budget = s.retryBudget();
  const labelShort = desc.digest.slice(7, 19);
  try {
    for (;;) {
      let skip = 0;
      try {
        if (!res) res = await openBlob(s, repo, desc, offset, what);
        // 200 to a Range request: the registry ignored it; skip what we have.
        if (offset > 0 && res.status === 200) skip = offset;
        else if (offset > 0 && res.status === 206) {
          const cr = String(res.headers['content-range'] ?? '');
          const start = /^bytes (\d+)-/.exec(cr)?.[1];
          if (start !== undefined && Number(start) !== offset) throw new XbuildError('REGISTRY', `${what}: asked for bytes from ${offset}, got "${cr}"`);
        }
        const progressAt = offset;
        for await (const c of res.body) {
          let b = c as Buffer;
          if (skip > 0) {
            if (b.length <= skip) { skip -= b.length; continue; }
            b = b.subarray(skip); skip = 0;
          }
          offset += b.length;
          if (offset - progressAt >= PROGRESS_RESETS_RETRIES_BYTES) budget.reset();
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
        // resume hook: after the wait, the loop reopens the blob at `offset`
        await budget.wait(err instanceof XbuildError ? err : networkError(what, 'GET', await s.url(repo.registry, blobPath(repo, desc.digest)), repo.registry, err));
      }
    }
  } finally {
    res?.body.destroy();
  }
}
