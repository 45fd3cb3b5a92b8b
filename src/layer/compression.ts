// Layer compression in one place: which media types are layers xbuild reads
// (tar, tar+gzip, tar+zstd; OCI and Docker), the decoder for a blob, the
// encoder for a layer xbuild writes, and the verified tar stream of a layer
// (blob digest checked by Layer.open, diff_id checked here at EOF).
//
// The media type decides whether a blob is a layer at all (anything else is
// one line naming the type) and what a rewrite writes. The decoder follows
// the blob's first bytes, as docker and containerd do, so a layer labelled
// tar+gzip that holds zstd reads the way a runtime reads it.
import { PassThrough, Readable, Transform } from 'node:stream';
import { createGunzip, createGzip, constants as zc } from 'node:zlib';
import { XbuildError } from '../errors.ts';
import { verifyingStream } from '../oci/digest.ts';
import {
  DOCKER_FOREIGN_LAYER, DOCKER_LAYER_TAR, DOCKER_LAYER_TAR_GZIP, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP, OCI_LAYER_TAR_ZSTD, isDockerMediaType,
} from '../oci/media-types.ts';
import type { Descriptor, Layer } from '../oci/model.ts';
import { ZstdCompress, ZstdDecompress } from './zstd.ts';
import { tocCheck } from './zstd-chunked.ts';
import { ZSTD_MAGIC } from './zstd-frames.ts';

export type Compression = 'none' | 'gzip' | 'zstd';

/** For help texts and errors. */
export const LAYER_FORMATS = 'tar, tar+gzip and tar+zstd (zstd:chunked included), OCI and Docker media types';

/** Level 6: on the 11 MB emulator level 9 costs 4x the CPU for 0.6% fewer bytes (and the layer is compressed twice). */
export const GZIP_LEVEL = 6;

const NONDISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
const BY_MEDIA_TYPE: ReadonlyMap<string, Compression> = new Map([
  [OCI_LAYER_TAR, 'none'], [OCI_LAYER_TAR_GZIP, 'gzip'], [OCI_LAYER_TAR_ZSTD, 'zstd'],
  [NONDISTRIBUTABLE, 'none'], [`${NONDISTRIBUTABLE}+gzip`, 'gzip'], [`${NONDISTRIBUTABLE}+zstd`, 'zstd'],
  [DOCKER_LAYER_TAR, 'none'], [DOCKER_LAYER_TAR_GZIP, 'gzip'], [DOCKER_FOREIGN_LAYER, 'gzip'],
]);

/** The compression a layer media type declares; UNSUPPORTED (one line naming the type) for anything else. */
export function layerCompression(mediaType: string, label = 'layer'): Compression {
  const c = BY_MEDIA_TYPE.get(mediaType);
  if (c === undefined) {
    throw new XbuildError('UNSUPPORTED', `${label} has media type "${mediaType}", which is not a layer format xbuild reads (${LAYER_FORMATS})`);
  }
  return c;
}

/** The layer media type for `compression` in a manifest of `manifestMediaType` (OCI or Docker family). */
export function layerMediaType(compression: Compression, manifestMediaType: string): string {
  if (!isDockerMediaType(manifestMediaType)) {
    return compression === 'gzip' ? OCI_LAYER_TAR_GZIP : compression === 'zstd' ? OCI_LAYER_TAR_ZSTD : OCI_LAYER_TAR;
  }
  if (compression === 'zstd') {
    throw new XbuildError('UNSUPPORTED', 'a Docker v2 manifest has no zstd layer type', { hint: 'choose gzip, or write the image with an OCI manifest' });
  }
  return compression === 'gzip' ? DOCKER_LAYER_TAR_GZIP : DOCKER_LAYER_TAR;
}

/** Annotations a rewritten layer may keep: zstd:chunked and eStargz tables of contents describe the old bytes. */
export function annotationsForRewrite(desc: Pick<Descriptor, 'annotations'>): Record<string, string> | undefined {
  const kept = Object.entries(desc.annotations ?? {}).filter(([k]) => !k.startsWith('io.containers.zstd-chunked.') && !k.startsWith('containerd.io/snapshot/stargz/'));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

/** What the first bytes of a blob are. */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === ZSTD_MAGIC) return 'zstd';
  return 'none';
}

export function decompressor(c: Compression): Transform {
  return c === 'gzip' ? createGunzip({ chunkSize: 256 * 1024 }) : c === 'zstd' ? new ZstdDecompress() : new PassThrough();
}

/** The encoder xbuild writes layers with: deterministic for a given input (fixed gzip settings, header without name or mtime; zstd level 3). */
export function compressor(c: Compression): Transform {
  if (c === 'gzip') return createGzip({ level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: zc.Z_DEFAULT_STRATEGY });
  return c === 'zstd' ? new ZstdCompress() : new PassThrough();
}

/** The uncompressed tar of a blob (gzip, zstd or plain tar, told by its first bytes). */
export async function decompressBlob(blob: Readable, label = 'layer'): Promise<Readable> {
  const { head, ended } = await firstBytes(blob, 4, label);
  const c = sniffCompression(head);
  // The sniffed bytes go back in front; the blob is then piped as it is (no copies, no extra stage).
  if (ended) blob = Readable.from(head.length > 0 ? [head] : [], { objectMode: false });
  else blob.unshift(head);
  const fail = (err: unknown, into: Readable) => { into.destroy(readError(label, err)); };
  if (c === 'none') {
    const out = new PassThrough();
    blob.on('error', (e) => fail(e, out));
    out.on('close', () => { if (!blob.destroyed) blob.destroy(); });
    return blob.pipe(out);
  }
  let fed = 0;
  blob.on('data', (b: Buffer) => { fed += b.length; });
  const dec = decompressor(c);
  blob.on('error', (e) => fail(e, dec));
  dec.on('close', () => { if (!blob.destroyed) blob.destroy(); });
  if (c === 'gzip') {
    // zlib stops quietly at bytes after the last member that are not a gzip header; Go's multistream reader fails there
    const gz = dec as Transform & { bytesWritten: number };
    const tail = new Transform({
      transform(chunk: Buffer, _e, cb) { cb(null, chunk); },
      flush(cb) { cb(gz.bytesWritten !== fed ? new XbuildError('INVALID_IMAGE', `${label}: ${fed - gz.bytesWritten} bytes after the end of the gzip stream (runtimes refuse the layer)`) : null); },
    });
    gz.on('error', (e) => tail.destroy(e));
    tail.on('close', () => { if (!gz.destroyed) gz.destroy(); });
    return blob.pipe(gz).pipe(tail);
  }
  return blob.pipe(dec);
}

/** At least `n` bytes from the front of a paused stream (fewer only when it ends first), taken out of it. */
async function firstBytes(s: Readable, n: number, label: string): Promise<{ head: Buffer; ended: boolean }> {
  const parts: Buffer[] = [];
  let have = 0, ended = false, failure: unknown;
  const onError = (e: unknown) => { failure ??= e; };
  s.on('error', onError);
  try {
    while (have < n && failure === undefined) {
      const c = s.read() as Buffer | string | null;
      if (c !== null) { const b = asBuffer(c); parts.push(b); have += b.length; continue; }
      if (s.errored) { failure ??= s.errored; break; }
      if (s.readableEnded || s.destroyed) { ended = true; break; }
      ended = await new Promise<boolean>((resolve) => {
        const off = () => { s.off('readable', more); s.off('end', done); s.off('error', done); s.off('close', done); };
        const done = () => { off(); resolve(true); };
        const more = () => { off(); resolve(false); };
        s.once('readable', more); s.once('end', done); s.once('error', done); s.once('close', done);
      });
      if (ended) break;
    }
  } catch (err) {
    failure ??= err;
  }
  failure ??= s.errored ?? undefined;
  if (failure !== undefined) throw readError(label, failure); // onError stays: a destroyed stream emits its error on the next tick
  s.off('error', onError);
  return { head: parts.length === 1 ? parts[0]! : Buffer.concat(parts), ended };
}

/**
 * A layer's uncompressed tar, verified: the blob against its descriptor (by
 * Layer.open), a zstd:chunked table of contents against its annotations,
 * and the tar against the config's diff_id at EOF (a consumer must read to
 * the end for the checks to run; walk.ts walkImageLayer hashes the tar
 * itself and passes `diffIdChecked: 'by-caller'`).
 */
export async function openLayerTar(layer: Pick<Layer, 'descriptor' | 'diffId' | 'open'>, label = `layer ${layer.descriptor.digest}`, opts: { diffIdChecked?: 'here' | 'by-caller' } = {}): Promise<Readable> {
  layerCompression(layer.descriptor.mediaType, label);
  const toc = tocCheck(layer.descriptor, label);
  let blob = await layer.open();
  if (toc) {
    const b = blob;
    b.on('error', (e) => toc.destroy(e));
    toc.on('close', () => { if (!b.destroyed) b.destroy(); });
    blob = b.pipe(toc);
  }
  const tar = await decompressBlob(blob, label);
  if (opts.diffIdChecked === 'by-caller') return tar;
  const check = verifyingStream({ digest: layer.diffId }, `uncompressed ${label} (diff_id)`);
  tar.on('error', (e) => check.destroy(e));
  check.on('close', () => { if (!tar.destroyed) tar.destroy(); });
  return tar.pipe(check);
}

/** A chunk as a Buffer without copying it (Buffer.from of a Buffer copies: a whole blob's worth of copies and garbage per layer). */
function asBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function readError(label: string, err: unknown): Error {
  if (err instanceof XbuildError) return err;
  return new XbuildError('IO', `${label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
