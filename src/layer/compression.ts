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
  const it = (blob as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let first: IteratorResult<Buffer | string>;
  try {
    first = await it.next();
  } catch (err) {
    throw readError(label, err);
  }
  if (first.done) return Readable.from([], { objectMode: false });
  let head = Buffer.from(first.value);
  // A first chunk shorter than a magic number: gather a few more bytes before deciding.
  while (head.length < 4) {
    const r = await it.next().catch((err: unknown) => { throw readError(label, err); });
    if (r.done) break;
    head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield head;
    for (;;) {
      const r = await it.next().catch((err: unknown) => { throw readError(label, err); });
      if (r.done) return;
      yield Buffer.from(r.value);
    }
  }
  let fed = 0;
  const counted = async function* (): AsyncGenerator<Buffer> { for await (const b of rest()) { fed += b.length; yield b; } };
  const raw = Readable.from(counted(), { objectMode: false });
  const c = sniffCompression(head);
  if (c === 'none') return raw;
  const dec = decompressor(c);
  raw.on('error', (e) => dec.destroy(e));
  dec.on('close', () => { if (!raw.destroyed) raw.destroy(); });
  if (c === 'gzip') {
    // zlib stops quietly at bytes after the last member that are not a gzip header; Go's multistream reader fails there
    const gz = dec as Transform & { bytesWritten: number };
    const tail = new Transform({
      transform(chunk: Buffer, _e, cb) { cb(null, chunk); },
      flush(cb) { cb(gz.bytesWritten !== fed ? new XbuildError('INVALID_IMAGE', `${label}: ${fed - gz.bytesWritten} bytes after the end of the gzip stream (runtimes refuse the layer)`) : null); },
    });
    gz.on('error', (e) => tail.destroy(e));
    tail.on('close', () => { if (!gz.destroyed) gz.destroy(); });
    return raw.pipe(gz).pipe(tail);
  }
  return raw.pipe(dec);
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

function readError(label: string, err: unknown): Error {
  if (err instanceof XbuildError) return err;
  return new XbuildError('IO', `${label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
