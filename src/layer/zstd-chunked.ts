// zstd:chunked (containers/storage): the layer is an ordinary tar+zstd
// stream whose table of contents (the TOC that Podman uses for partial
// pulls) sits in a skippable frame; two layer annotations locate it:
//   io.containers.zstd-chunked.manifest-position  "offset:length:uncompressedLength:type"
//   io.containers.zstd-chunked.manifest-checksum  sha256 of blob[offset, offset+length)
// Readers of the full stream skip the frame; this check makes sure the
// annotations describe the blob they are attached to (a TOC that does not
// is refused by containers/storage), without holding more than a hash.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { XbuildError } from '../errors.ts';
import type { Descriptor } from '../oci/model.ts';

export const ZSTD_CHUNKED_POSITION = 'io.containers.zstd-chunked.manifest-position';
export const ZSTD_CHUNKED_CHECKSUM = 'io.containers.zstd-chunked.manifest-checksum';

/** A pass-through that hashes the TOC range of a zstd:chunked blob and compares it at EOF; undefined when the layer has no TOC annotations. */
export function tocCheck(desc: Pick<Descriptor, 'annotations' | 'size'>, label: string): Transform | undefined {
  const pos = desc.annotations?.[ZSTD_CHUNKED_POSITION];
  const sum = desc.annotations?.[ZSTD_CHUNKED_CHECKSUM];
  if (pos === undefined && sum === undefined) return undefined;
  const m = /^(\d+):(\d+):\d+:\d+$/.exec(pos ?? '');
  const start = m ? Number(m[1]) : NaN;
  const length = m ? Number(m[2]) : NaN;
  if (!m || !/^sha256:[a-f0-9]{64}$/.test(sum ?? '') || start + length > desc.size) {
    throw new XbuildError('INVALID_IMAGE', `${label}: zstd:chunked annotations are malformed (${ZSTD_CHUNKED_POSITION}="${pos ?? ''}", ${ZSTD_CHUNKED_CHECKSUM}="${sum ?? ''}")`);
  }
  return new TocCheck(start, start + length, sum!, label);
}

class TocCheck extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private offset = 0;
  constructor(private readonly start: number, private readonly stop: number, private readonly want: string, private readonly label: string) { super(); }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    const from = Math.max(this.start - this.offset, 0);
    const to = Math.min(this.stop - this.offset, chunk.length);
    if (from < to) this.hash.update(chunk.subarray(from, to));
    this.offset += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got !== this.want) {
      cb(new XbuildError('DIGEST_MISMATCH', `${this.label}: its zstd:chunked table of contents (bytes ${this.start}-${this.stop}) is ${got}, but ${ZSTD_CHUNKED_CHECKSUM} says ${this.want}`, {
        hint: 'Podman refuses this layer for partial pulls; re-push it with --compression-format zstd (or zstd:chunked from a current podman/skopeo)',
      }));
      return;
    }
    cb();
  }
}
