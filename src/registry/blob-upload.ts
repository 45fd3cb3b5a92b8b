// Blob upload, as go-containerregistry does it: HEAD (exists) -> cross-repo
// mount when the source is on the same registry (a mount the registry refuses
// falls back to an upload) -> one PUT up to monolithicMaxBytes (the blob read
// and verified first, so a corrupt source is never committed), PATCH chunks
// above (the final PUT only after the whole source verified). A failed chunk resumes from what the registry says it holds (GET on
// the session: Range 0-N). The bytes sent are checked against the descriptor.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { XbuildError } from '../errors.ts';
import type { Descriptor, Opener } from '../oci/model.ts';
import { digestHex, verifyingStream } from '../oci/digest.ts';
import { pullScope, pushScope } from './auth.ts';
import { hasBlob } from './blob-download.ts';
import type { RegistrySession, RepositoryName, RequestSpec } from './session.ts';

export interface UploadSizes {
  /** Blobs up to this size are uploaded with one PUT. */
  monolithicMax: number;
  /** PATCH chunk size above it. */
  chunkBytes: number;
}

export type PushResult = 'exists' | 'mounted' | 'uploaded';

/**
 * Make `desc` present in `repo`: HEAD (exists) -> cross-repository mount from
 * `mountFrom` when it is on the same registry -> upload from `open()`.
 */
export async function pushBlob(s: RegistrySession, sizes: UploadSizes, repo: RepositoryName, desc: Descriptor, open: Opener, opts: { mountFrom?: RepositoryName } = {}): Promise<PushResult> {
  digestHex(desc.digest);
  const label = desc.digest.slice(7, 19);
  const done = (note: PushResult) => { s.onProgress({ kind: 'done', id: desc.digest, label, note }); return note; };
  if (await hasBlob(s, repo, desc.digest)) return done('exists');
  const what = `pushing blob ${desc.digest} to ${repo.registry}/${repo.repository}`;
  let mount = opts.mountFrom && opts.mountFrom.registry === repo.registry && opts.mountFrom.repository !== repo.repository ? opts.mountFrom : undefined;
  return s.retrying(async (attempt) => {
    // After a failed attempt the blob may have landed anyway (answer lost): check first.
    if (attempt > 1 && await hasBlob(s, repo, desc.digest)) return done('uploaded');
    let location: URL | undefined;
    if (mount) {
      const q = new URLSearchParams({ mount: desc.digest, from: mount.repository });
      try {
        const res = await s.callDrained(repo.registry, {
          what: `${what} (mount from ${mount.repository})`, method: 'POST', path: `/v2/${repo.repository}/blobs/uploads/?${q}`,
          scopes: [pushScope(repo.repository), pullScope(mount.repository)],
        }, (st) => st === 201 || st === 202);
        if (res.status === 201) return done('mounted');
        location = await s.uploadLocation(repo.registry, res, what); // 202: not mounted, an upload session instead
      } catch (err) {
        if (!(err instanceof XbuildError) || err.retryable) throw err;
        // Refused (no pull right on the source, unknown source, mount not supported): upload instead.
        s.onProgress({ kind: 'log', message: `${err.message}; uploading the blob instead` });
        mount = undefined;
      }
    }
    location ??= await startUpload(s, repo, what);
    await upload(s, sizes, repo, desc, open, location, what);
    return done('uploaded');
  });
}

async function startUpload(s: RegistrySession, repo: RepositoryName, what: string): Promise<URL> {
  const res = await s.callDrained(repo.registry, { what, method: 'POST', path: `/v2/${repo.repository}/blobs/uploads/`, scopes: [pushScope(repo.repository)] }, (st) => st === 202);
  return s.uploadLocation(repo.registry, res, what);
}

/**
 * PATCH one chunk (held in memory). After a transient failure (resume hook of
 * the retry budget) ask the registry how much of the session it holds and
 * resend only what is missing; the session survives.
 */
async function sendChunk(s: RegistrySession, repo: RepositoryName, location: URL, chunk: Buffer, offset: number, what: string): Promise<URL> {
  const scopes = [pushScope(repo.repository)];
  const budget = s.retryBudget();
  let loc = location;
  let have = 0; // bytes of this chunk the registry holds
  for (;;) {
    try {
      const res = await s.callDrained(repo.registry, {
        what, method: 'PATCH', path: loc, scopes, body: chunk.subarray(have),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset + have}-${offset + chunk.length - 1}` },
      }, (st) => st === 202 || st === 204);
      return await s.uploadLocation(repo.registry, res, what);
    } catch (err) {
      await budget.wait(err);
      const status = await s.callDrained(repo.registry, { what: `${what} (upload status)`, method: 'GET', path: loc, scopes }, (st) => st === 204)
        .catch(() => undefined);
      if (!status) throw err; // session gone: the caller starts a new one
      const last = parseUploadRange(status.headers.range);
      // distribution answers "0-0" for both 0 and 1 byte received; 0 is the safe reading at a chunk start
      const received = last === undefined || (last === 0 && offset === 0) ? 0 : last + 1;
      if (received < offset || received > offset + chunk.length) throw err;
      have = received - offset;
      if (status.headers.location) loc = await s.uploadLocation(repo.registry, status, what);
      if (have === chunk.length) return loc;
    }
  }
}

async function upload(s: RegistrySession, sizes: UploadSizes, repo: RepositoryName, desc: Descriptor, open: Opener, location: URL, what: string): Promise<void> {
  const scopes = [pushScope(repo.repository)];
  const source = await open();
  const verified = verifyingStream(desc, `source of blob ${desc.digest}`);
  let sent = 0;
  let lastReport = 0;
  const report = (n: number) => {
    sent += n;
    if (sent - lastReport >= 256 * 1024 || sent === desc.size) {
      lastReport = sent;
      s.onProgress({ kind: 'bytes', id: desc.digest, label: desc.digest.slice(7, 19), done: sent, total: desc.size });
    }
  };
  pipeline(source, verified, () => {});
  const finish = (loc: URL, body?: Buffer): RequestSpec => {
    const u = new URL(loc);
    u.searchParams.set('digest', desc.digest);
    return { what, method: 'PUT', path: u, scopes, body, headers: { 'Content-Type': 'application/octet-stream', ...(body ? { 'Content-Length': String(desc.size) } : {}) } };
  };
  try {
    if (desc.size <= sizes.monolithicMax) {
      // The whole blob is read and verified before the PUT: a source whose bytes do not match is never committed.
      const parts: Buffer[] = [];
      for await (const c of verified) parts.push(c as Buffer);
      const body = Buffer.concat(parts);
      await s.callDrained(repo.registry, finish(location, body), (st) => st === 201 || st === 204);
      report(body.length);
      return;
    }
    let loc = location;
    let offset = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      const chunk = Buffer.concat(pending, pendingBytes);
      pending = []; pendingBytes = 0;
      loc = await sendChunk(s, repo, loc, chunk, offset, what);
      offset += chunk.length;
      report(chunk.length);
    };
    for await (const c of verified) {
      let b = c as Buffer;
      while (pendingBytes + b.length >= sizes.chunkBytes) {
        const take = sizes.chunkBytes - pendingBytes;
        pending.push(b.subarray(0, take)); pendingBytes += take;
        b = b.subarray(take);
        await flush();
      }
      if (b.length > 0) { pending.push(b); pendingBytes += b.length; }
    }
    if (pendingBytes > 0) await flush();
    await s.callDrained(repo.registry, finish(loc), (st) => st === 201 || st === 204);
  } finally {
    source.destroy();
    verified.destroy();
  }
}

export function parseUploadRange(v: string | string[] | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(Array.isArray(v) ? v[0] : v ?? '').trim());
  return m ? Number(m[1]) : undefined;
}
