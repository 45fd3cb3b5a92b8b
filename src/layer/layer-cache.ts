// A cache of built layers outside the repository: `wrap` compresses the same
// 5-11 MB emulator layer on every call (~2 s of gzip); with the cache a warm
// call reads the blob back instead. The key is a sha256 over everything the
// blob depends on: the layer builder's format version, the xbuild version,
// zlib's version, compression and media type, SOURCE_DATE_EPOCH, and every
// entry's path, type, mode, owner, mtime, link target and content digest (the
// bytes themselves are hashed, so a changed emulator or shim is a miss, never
// a stale hit). An entry is one directory `<key>/` holding `blob` and
// `meta.json`, written under a temporary name and renamed into place (atomic;
// concurrent writers race harmlessly: the first rename wins, the others use
// it). A hit is trusted only after its bytes are checked: blob digest and size,
// and the diff_id of its decompressed tar, against meta.json; anything that
// does not match is ignored and rebuilt. A cache that cannot be written (read
// only, full) is not an error: the layer is built in memory as without cache.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LayerEntry } from './entry.ts';
import type { Layer } from '../oci/model.ts';
import { OCI_IMAGE_MANIFEST } from '../oci/media-types.ts';
import { decompressor, layerMediaType } from './compression.ts';
import { buildLayer, normalizeEntries, type BuildLayerOptions } from './build.ts';
import { verifying } from '../oci/digest.ts';
import { XBUILD_VERSION } from '../version.ts';

/** Bump when the bytes buildLayer writes for the same entries change (tar layout, gzip settings). */
export const LAYER_CACHE_FORMAT = 1;
/** Layers larger than this are not cached (a hit is read into memory to be checked). */
export const LAYER_CACHE_MAX_BLOB = 256 * 1024 * 1024;
/** Entries kept; older ones (by last use) are removed after a store. */
export const LAYER_CACHE_MAX_ENTRIES = 24;

export interface LayerCacheOptions extends BuildLayerOptions {
  /** Cache directory (e.g. `<cacheRoot>/layers`); undefined = no cache. */
  cacheDir?: string;
  /** Told what happened: 'hit', 'miss' (built and stored), 'bypass' (built, not stored: why). */
  onCache?: (event: { kind: 'hit' | 'miss' | 'bypass'; key: string; reason?: string }) => void;
}

interface Meta { format: number; key: string; mediaType: string; digest: string; size: number; diffId: string }

/** A pass-through hashing what flows (content digest of a streamed entry). */
class Hashing extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback): void { this.hash.update(c); this.size += c.length; cb(null, c); }
}

async function contentDigest(e: LayerEntry): Promise<string> {
  if (e.type !== 'file') return '';
  if (Buffer.isBuffer(e.content)) return createHash('sha256').update(e.content).digest('hex');
  const h = new Hashing();
  await pipeline(await (e.content as () => Promise<Readable>)(), h, async function* (src) { for await (const _ of src) { /* drain */ } });
  if (h.size !== e.size) throw new Error(`entry ${e.path}: ${h.size} bytes, ${e.size} declared`);
  return h.hash.digest('hex');
}

/** The cache key of a layer: sha256 over the builder's identity, the options and every entry (content by digest). */
export async function layerCacheKey(entries: LayerEntry[], opts: BuildLayerOptions = {}): Promise<string> {
  const c = opts.compression ?? 'gzip';
  const parts: unknown[] = [
    LAYER_CACHE_FORMAT, XBUILD_VERSION, process.versions.zlib ?? '', c,
    opts.mediaType ?? layerMediaType(c, OCI_IMAGE_MANIFEST), opts.sourceDateEpoch ?? 0,
  ];
  for (const e of normalizeEntries(entries)) {
    parts.push([e.path, e.type, e.mode, e.uid ?? null, e.gid ?? null, e.mtime ?? null, e.linkname ?? null, e.size ?? null, await contentDigest(e)]);
  }
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A cached entry, checked byte for byte against its meta.json; undefined when absent or not right. */
async function readEntry(dir: string, key: string): Promise<{ blob: Buffer; meta: Meta } | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
    if (meta.format !== LAYER_CACHE_FORMAT || meta.key !== key || !(meta.size <= LAYER_CACHE_MAX_BLOB)) return undefined;
    const blob = await readFile(join(dir, 'blob'));
    if (blob.length !== meta.size || `sha256:${sha256Hex(blob)}` !== meta.digest) return undefined;
    const tar = new Hashing();
    await pipeline(Readable.from([blob]), decompressor(layerCompressionOf(meta.mediaType)), tar, async function* (src) { for await (const _ of src) { /* drain */ } });
    if (`sha256:${tar.hash.digest('hex')}` !== meta.diffId) return undefined;
    return { blob, meta };
  } catch {
    return undefined;
  }
}

function layerCompressionOf(mediaType: string): 'gzip' | 'zstd' | 'none' {
  return /zstd/.test(mediaType) ? 'zstd' : /gzip/.test(mediaType) ? 'gzip' : 'none';
}

function layerFromBlob(blob: Buffer, meta: Meta): Layer {
  const descriptor = { mediaType: meta.mediaType, digest: meta.digest, size: meta.size };
  return { descriptor, diffId: meta.diffId, open: async () => verifying(Readable.from([blob]), descriptor, 'the xbuild layer (cached)') };
}

/** Store a built layer (best effort): temp dir, then rename into place; a lost race keeps the winner's entry. */
async function storeEntry(cacheDir: string, key: string, meta: Meta, blob: Buffer): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(tmp);
    await writeFile(join(tmp, 'blob'), blob);
    await writeFile(join(tmp, 'meta.json'), `${JSON.stringify(meta)}\n`);
    try {
      await rename(tmp, join(cacheDir, key));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // another process stored it first, or a bad entry sits there: replace a bad one
      if (!(await readEntry(join(cacheDir, key), key))) {
        await rm(join(cacheDir, key), { recursive: true, force: true });
        await rename(tmp, join(cacheDir, key)).catch(() => undefined);
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
  await pruneEntries(cacheDir).catch(() => undefined);
}

/** Keep the LAYER_CACHE_MAX_ENTRIES most recently used entries (a hit touches its directory). */
async function pruneEntries(cacheDir: string): Promise<void> {
  const names = (await readdir(cacheDir)).filter((n) => /^[a-f0-9]{64}$/.test(n));
  if (names.length <= LAYER_CACHE_MAX_ENTRIES) return;
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(cacheDir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => b.t - a.t);
  for (const { n } of aged.slice(LAYER_CACHE_MAX_ENTRIES)) await rm(join(cacheDir, n), { recursive: true, force: true });
}

/**
 * buildLayer with a cache: a checked hit returns the stored blob; a miss builds
 * the layer, stores it (best effort) and returns it. Without `cacheDir`, plain
 * buildLayer. The result is the same layer either way (same digest, diff_id).
 */
export async function buildLayerCached(entries: LayerEntry[], opts: LayerCacheOptions = {}): Promise<Layer> {
  const { cacheDir, onCache, ...buildOpts } = opts;
  if (!cacheDir) return buildLayer(entries, buildOpts);
  const key = await layerCacheKey(entries, buildOpts);
  const dir = join(cacheDir, key);
  const hit = await readEntry(dir, key);
  if (hit) {
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined);
    onCache?.({ kind: 'hit', key });
    return layerFromBlob(hit.blob, hit.meta);
  }
  const layer = await buildLayer(entries, buildOpts);
  if (layer.descriptor.size > LAYER_CACHE_MAX_BLOB) {
    onCache?.({ kind: 'bypass', key, reason: 'layer larger than the cache takes' });
    return layer;
  }
  // Entries read from files could change between the key and the build: the key is
  // recomputed after the build and the layer is stored only when both agree.
  if ((await layerCacheKey(entries, buildOpts)) !== key) {
    onCache?.({ kind: 'bypass', key, reason: 'an input changed while the layer was built' });
    return layer;
  }
  // The blob once, in memory (checked against the descriptor by the verifying open()):
  // stored, and what the caller uploads, so it is not compressed a third time.
  const chunks: Buffer[] = [];
  for await (const c of await layer.open()) chunks.push(c as Buffer);
  const blob = Buffer.concat(chunks);
  const meta: Meta = { format: LAYER_CACHE_FORMAT, key, mediaType: layer.descriptor.mediaType, digest: layer.descriptor.digest, size: layer.descriptor.size, diffId: layer.diffId };
  try {
    await storeEntry(cacheDir, key, meta, blob);
    onCache?.({ kind: 'miss', key });
  } catch (err) {
    onCache?.({ kind: 'bypass', key, reason: `cache not written: ${(err as Error).message}` });
  }
  return layerFromBlob(blob, meta);
}
