// Digests ("sha256:<64 hex>", sha512 accepted on read) and the one verifying
// reader every blob read goes through -- registry, OCI layout, docker-archive,
// the layer builder: it counts and hashes what passes and, at EOF, fails with
// a typed DIGEST_MISMATCH XbuildError when size or digest differ from the
// descriptor (too many bytes fail as soon as they arrive). Also `readAll` for
// the small documents (manifests, configs) that are read whole.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { XbuildError } from '../errors.ts';
import type { Descriptor } from './model.ts';

export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** Digests blobs may carry (OCI image-spec registered algorithms); xbuild writes sha256. */
const BLOB_DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && BLOB_DIGEST.test(s);
}

/** diff_ids and the digests xbuild computes are sha256 only. */
export function isSha256Digest(s: unknown): s is string {
  return typeof s === 'string' && SHA256_DIGEST.test(s);
}

/** Throws INVALID_IMAGE unless `s` is a sha256 (or sha512) digest; returns its hex part. */
export function digestHex(s: string, what = 'digest'): string {
  if (!isDigest(s)) throw new XbuildError('INVALID_IMAGE', `${what} "${s}" is not sha256:<64 lower-case hex> (or sha512:<128 hex>)`);
  return s.slice(s.indexOf(':') + 1);
}

export function algorithmOf(digest: string): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Hash a whole stream: its digest and byte count. */
export async function digestStream(stream: Readable): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

export function digestMismatch(label: string, expected: { digest: string; size?: number }, actual: { digest?: string; size?: number }): XbuildError {
  const parts: string[] = [];
  if (expected.size !== undefined && actual.size !== undefined && expected.size !== actual.size) {
    parts.push(`size ${actual.size} bytes, expected ${expected.size}`);
  }
  if (actual.digest !== undefined && actual.digest !== expected.digest) {
    parts.push(`digest ${actual.digest}, expected ${expected.digest}`);
  }
  return new XbuildError('DIGEST_MISMATCH', `${label} does not match its descriptor: ${parts.join('; ')}`, {
    hint: 'the stored content is corrupt or was changed after it was referenced; re-push the image or report it to the registry operator',
  });
}

/** Throws DIGEST_MISMATCH unless `data` has exactly the descriptor's digest (and size, when given). */
export function verifyBuffer(desc: { digest: string; size?: number }, data: Buffer, label = `blob ${desc.digest}`): void {
  digestHex(desc.digest);
  const algo = algorithmOf(desc.digest);
  const digest = `${algo}:${createHash(algo).update(data).digest('hex')}`;
  if (digest !== desc.digest || (desc.size !== undefined && data.length !== desc.size)) {
    throw digestMismatch(label, desc, { digest, size: data.length });
  }
}

/**
 * A pass-through that checks digest AND size (size only when the descriptor
 * has one: a diff_id has none). Pipe the blob through it; it
 * errors with DIGEST_MISMATCH (retryable: false) instead of ending when the
 * content differs. `bytesSeen` tells how far it got.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private readonly algo: 'sha256' | 'sha512';
  bytesSeen = 0;
  constructor(readonly desc: Pick<Descriptor, 'digest'> & { size?: number }, readonly label = `blob ${desc.digest}`) {
    super();
    digestHex(desc.digest);
    this.algo = algorithmOf(desc.digest);
    this.hash = createHash(this.algo);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytesSeen += chunk.length;
    if (this.desc.size !== undefined && this.bytesSeen > this.desc.size) {
      cb(digestMismatch(this.label, this.desc, { size: this.bytesSeen }));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const digest = `${this.algo}:${this.hash.digest('hex')}`;
    if ((this.desc.size !== undefined && this.bytesSeen !== this.desc.size) || digest !== this.desc.digest) {
      cb(digestMismatch(this.label, this.desc, { digest, size: this.bytesSeen }));
      return;
    }
    cb();
  }
}

export function verifyingStream(desc: Pick<Descriptor, 'digest'> & { size?: number }, label?: string): VerifyingStream {
  return new VerifyingStream(desc, label);
}

/** Pipe `src` through a verifying stream; errors of the source are forwarded. */
export function verifying(src: Readable, desc: Pick<Descriptor, 'digest' | 'size'>, label?: string): Readable {
  const v = new VerifyingStream(desc, label);
  src.on('error', (e) => v.destroy(e));
  return src.pipe(v);
}

/** Read a whole (small) stream into memory: manifests and configs only, never layers. */
export async function readAll(stream: Readable, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = []; let n = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c as string);
    n += b.length;
    if (n > limit) throw new XbuildError('INVALID_IMAGE', `document larger than ${limit} bytes where a manifest or config was expected`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
