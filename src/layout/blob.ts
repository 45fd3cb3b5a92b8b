// Blob helpers shared by the on-disk backends: sha256 of bytes, and a
// pass-through stream that checks digest and size at EOF (typed mismatch error).
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Descriptor } from '../oci/model.ts';
import { XbuildError } from '../errors.ts';

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isSha256Digest(d: unknown): d is string {
  return typeof d === 'string' && DIGEST_RE.test(d);
}

/** Hex part of a sha256 digest, refusing anything else (it becomes a file name). */
export function digestHex(digest: string): string {
  if (!isSha256Digest(digest)) {
    throw new XbuildError('UNSUPPORTED', `unsupported or malformed digest "${digest}" (only sha256 is supported)`);
  }
  return digest.slice('sha256:'.length);
}

/** Throw DIGEST_MISMATCH unless `data` matches `desc`. */
export function checkBytes(data: Buffer, desc: Pick<Descriptor, 'digest' | 'size'>, what: string): void {
  const got = sha256Digest(data);
  if (data.length !== desc.size || got !== desc.digest) {
    throw new XbuildError('DIGEST_MISMATCH', `${what}: content is ${got} (${data.length} bytes), expected ${desc.digest} (${desc.size} bytes)`, {
      hint: 'the stored blob is corrupted or was modified; fetch the image again',
    });
  }
}

/** A Transform that passes bytes through and fails at EOF unless digest and size match. */
export class VerifyingTransform extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;
  constructor(private readonly desc: Pick<Descriptor, 'digest' | 'size'>, private readonly what: string) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.desc.size) {
      cb(new XbuildError('DIGEST_MISMATCH', `${this.what}: more than the expected ${this.desc.size} bytes`, { hint: 'the stored blob is corrupted or was modified' }));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const got = `sha256:${this.hash.digest('hex')}`;
    if (this.seen !== this.desc.size || got !== this.desc.digest) {
      cb(new XbuildError('DIGEST_MISMATCH', `${this.what}: content is ${got} (${this.seen} bytes), expected ${this.desc.digest} (${this.desc.size} bytes)`, {
        hint: 'the stored blob is corrupted or was modified; fetch the image again',
      }));
      return;
    }
    cb();
  }
}

/** Pipe `src` through a verifying transform; source errors are forwarded. */
export function verifying(src: Readable, desc: Pick<Descriptor, 'digest' | 'size'>, what: string): Readable {
  const v = new VerifyingTransform(desc, what);
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
