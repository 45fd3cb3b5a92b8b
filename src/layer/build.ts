// Deterministic layer builder: LayerEntry[] -> tar+gzip (or +zstd) blob with digest,
// size and diff_id. Sorted entries, implied parent directories, uid/gid 0,
// no user/group names, modes as given (masked to 07777), one mtime
// (SOURCE_DATE_EPOCH, passed in, default 0), gzip level 6 with Node's fixed
// header (no file name, mtime 0). Built from an opener: the tar is generated
// again on every open (hash once, upload later, no temp files) and each
// re-generation is checked against the first one's digest.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { LayerEntry } from './entry.ts';
import type { Descriptor, Layer } from '../oci/model.ts';
import { OCI_IMAGE_MANIFEST } from '../oci/media-types.ts';
import { compressor, layerCompression, layerMediaType, type Compression } from './compression.ts';
import { XbuildError } from '../errors.ts';
import { verifying } from '../oci/digest.ts';

export { GZIP_LEVEL } from './compression.ts';

export interface BuildLayerOptions {
  /** Seconds since the epoch for every entry's mtime (SOURCE_DATE_EPOCH); default 0. */
  sourceDateEpoch?: number;
  /** gzip (default), zstd or none: unwrap keeps the compression of the layer it replaces. */
  compression?: Compression;
  /** Layer media type (OCI or Docker) matching `compression`; default the OCI type. */
  mediaType?: string;
}

interface NormalEntry extends LayerEntry { path: string }

/** Validate, add parent directories, sort by path (byte order). */
export function normalizeEntries(entries: LayerEntry[]): NormalEntry[] {
  const byPath = new Map<string, NormalEntry>();
  for (const e of entries) {
    const p = posix.normalize(e.path).replace(/\/+$/, '');
    if (e.path.startsWith('/') || p.startsWith('..') || p === '.' || p === '' || p !== e.path.replace(/\/+$/, '')) {
      throw new XbuildError('INVALID_IMAGE', `layer entry path "${e.path}" must be relative, normalised and inside the image`);
    }
    if (byPath.has(p)) throw new XbuildError('INVALID_IMAGE', `layer entry "${p}" is listed twice`);
    if (e.type === 'file' && e.content === undefined) throw new XbuildError('INVALID_IMAGE', `layer entry "${p}" has no content`);
    if (e.type === 'file' && typeof e.content === 'function' && e.size === undefined) {
      throw new XbuildError('INVALID_IMAGE', `layer entry "${p}" is streamed but has no size`);
    }
    if (e.type === 'symlink' && !e.linkname) throw new XbuildError('INVALID_IMAGE', `layer entry "${p}" is a symlink without target`);
    byPath.set(p, { ...e, path: p, mode: e.mode & 0o7777 });
  }
  for (const p of [...byPath.keys()]) {
    for (let d = posix.dirname(p); d !== '.'; d = posix.dirname(d)) {
      const have = byPath.get(d);
      if (have && have.type !== 'dir') throw new XbuildError('INVALID_IMAGE', `layer entry "${d}" is a ${have.type} but holds "${p}"`);
      if (!have) byPath.set(d, { path: d, type: 'dir', mode: 0o755 });
    }
  }
  const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  return [...byPath.values()].sort((a, b) => cmp(a.path, b.path));
}

/** A fresh uncompressed tar stream of the (normalised) entries. */
export function tarStream(entries: NormalEntry[], mtime: Date): Readable {
  const pack = tar.pack();
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime };
  (async () => {
    for (const e of entries) {
      const common = { ...base, ...(e.uid !== undefined ? { uid: e.uid } : {}), ...(e.gid !== undefined ? { gid: e.gid } : {}), ...(e.mtime !== undefined ? { mtime: new Date(e.mtime * 1000) } : {}) };
      if (e.type === 'dir') {
        await new Promise<void>((res, rej) => pack.entry({ ...common, name: `${e.path}/`, type: 'directory', mode: e.mode }, (err) => (err ? rej(err) : res())));
      } else if (e.type === 'symlink') {
        await new Promise<void>((res, rej) => pack.entry({ ...common, name: e.path, type: 'symlink', linkname: e.linkname!, mode: e.mode }, (err) => (err ? rej(err) : res())));
      } else if (Buffer.isBuffer(e.content)) {
        await new Promise<void>((res, rej) => pack.entry({ ...common, name: e.path, type: 'file', mode: e.mode, size: (e.content as Buffer).length }, e.content as Buffer, (err) => (err ? rej(err) : res())));
      } else {
        const src = await (e.content as () => Promise<Readable>)();
        await new Promise<void>((res, rej) => {
          const w = pack.entry({ ...common, name: e.path, type: 'file', mode: e.mode, size: e.size! }, (err) => (err ? rej(err) : res()));
          w.on('error', () => {}); // reported through rej
          src.on('error', (err) => { rej(err); w.destroy(); });
          src.pipe(w);
        });
      }
    }
    pack.finalize();
  })().catch((err) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return pack as unknown as Readable;
}

/** A pass-through that counts bytes and hashes them (sha256): digest and size of a stream in one pass. */
export class Measure extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback): void { this.hash.update(c); this.size += c.length; cb(null, c); }
}

/** The compressed stream of a fresh tar of `entries`. */
function compressed(entries: NormalEntry[], mtime: Date, c: Compression): Readable {
  const t = tarStream(entries, mtime);
  const z = compressor(c);
  t.on('error', (e) => z.destroy(e));
  return t.pipe(z);
}

/** Build the layer: one pass to compute digest, size and diff_id; `open()` regenerates and verifies. */
export async function buildLayer(entries: LayerEntry[], opts: BuildLayerOptions = {}): Promise<Layer> {
  const epoch = opts.sourceDateEpoch ?? 0;
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new XbuildError('USAGE', `SOURCE_DATE_EPOCH "${epoch}" is not a non-negative integer`);
  const mtime = new Date(epoch * 1000);
  const norm = normalizeEntries(entries);
  const uncompressed = new Measure();
  const packed = new Measure();
  const c = opts.compression ?? 'gzip';
  const mediaType = opts.mediaType ?? layerMediaType(c, OCI_IMAGE_MANIFEST);
  if (layerCompression(mediaType) !== c) throw new XbuildError('USAGE', `layer media type ${mediaType} does not say ${c}`);
  await pipeline(tarStream(norm, mtime), uncompressed, compressor(c), packed, new PassThrough().resume());
  const descriptor: Descriptor = {
    mediaType,
    digest: `sha256:${packed.hash.digest('hex')}`,
    size: packed.size,
  };
  return {
    descriptor,
    diffId: `sha256:${uncompressed.hash.digest('hex')}`,
    open: async () => verifying(compressed(norm, mtime, c), descriptor, 'the xbuild layer (regenerated)'),
  };
}
