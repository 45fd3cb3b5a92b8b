// Streaming layer walker: reads one layer once, in order, with the checks a
// runtime makes (Go archive/tar through tar-reader.ts), and hands each entry
// to a visitor (walk*) or yields it (layerEntries, for consumers that write
// while reading, such as unwrap's rewrite). Nothing is written to disk;
// content nobody reads is skipped.
//
// API: walkImageLayer(layer, visit, label)   an image's layer as runtimes read it:
//        blob digest (Layer.open), zstd:chunked TOC and decompression
//        (compression.ts openLayerTar), tar, diff_id over the whole stream
//      layerEntries(layer, label)             the same, as an async generator
//      walkLayer(blob, visit, { label, diffId })  a bare blob
//      walkTar(tar, visit, { label, diffId })     an already uncompressed tar
//   - the blob is decompressed by its magic (compression.ts decompressBlob:
//     gzip with no trailing garbage, as Go's multistream reader; zstd);
//   - the tar ends at Go's end-of-archive; the rest of the uncompressed
//     stream is still read, because the diff_id is checked over all of it, as
//     umoci and containers/storage do;
//   - entry types a runtime refuses (old GNU sparse, contiguous, vendor
//     types) refuse the layer; GNU sparse files in PAX form are read as Go
//     reads them (logical size and content); PAX global headers are skipped
//     (containers/storage).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { XbuildError } from '../errors.ts';
import type { Layer } from '../oci/model.ts';
import { chunksOf } from './chunks.ts';
import { decompressBlob, openLayerTar } from './compression.ts';
import { TYPE, type TarHeader } from './tar-header.ts';
import { ByteSource, TarReader } from './tar-reader.ts';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface WalkEntry {
  /** The name as Go's archive/tar returns it (latin1: byte-exact). */
  name: string;
  kind: EntryKind;
  mode: number;
  size: number;
  /** symlink or hard link target as stored (latin1). */
  linkname?: string;
  uid: number;
  gid: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** `name` without leading "/", "." and empty components (".." kept: see parentRef); for readers that do not resolve paths through an FsView. */
  path: string;
  /** The stored name started with "/". */
  absolute: boolean;
  /** The stored name (or a hard link's target) has a ".." component. */
  parentRef: boolean;
}

export interface NormalisedPath { path: string; absolute: boolean; parentRef: boolean }

/** A tar name as a relative path (no resolution: ".." stays and is flagged). */
export function normaliseEntryPath(name: string): NormalisedPath {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return { path: parts.join('/'), absolute: name.startsWith('/'), parentRef: parts.includes('..') };
}

/** Receives an entry's content chunks in order, then `end()` once. */
export interface ContentSink {
  data(chunk: Buffer): void;
  end(): void;
}

/** Visitor: return a sink to receive the entry's content, or nothing to skip it. */
export type EntryVisitor = (entry: WalkEntry) => ContentSink | undefined | void;

export interface WalkOptions {
  label?: string;
  /** Expected sha256 of the uncompressed stream ("sha256:<hex>"); checked at the end. */
  diffId?: string;
}

function kindOf(h: TarHeader): EntryKind | undefined {
  switch (h.typeflag) {
    case TYPE.REG: return 'file';
    case TYPE.DIR: return 'dir';
    case TYPE.SYMLINK: return 'symlink';
    case TYPE.LINK: return 'hardlink';
    case TYPE.CHAR: case TYPE.BLOCK: case TYPE.FIFO: return 'other';
    default: return undefined;
  }
}

/** One entry of a layer: its walk view, the tar header as read, and its content (read it before asking for the next entry, or it is skipped). */
export interface LayerEntry { entry: WalkEntry; header: TarHeader; content: () => AsyncGenerator<Buffer> }

type Stats = { entries: number; bytes: number };

/** Every entry of an image's layer, read as walkImageLayer reads it (checks included: they fail the iteration at the end). */
export async function* layerEntries(layer: Pick<Layer, 'descriptor' | 'diffId' | 'open'>, label: string): AsyncGenerator<LayerEntry> {
  yield* entriesOf(await openLayerTar(layer, label, { diffIdChecked: 'by-caller' }), { label, diffId: layer.diffId });
}

/** Walk an image's layer as a runtime reads it. Rejects with INVALID_IMAGE / DIGEST_MISMATCH where a runtime refuses the layer. */
export async function walkImageLayer(layer: Pick<Layer, 'descriptor' | 'diffId' | 'open'>, visit: EntryVisitor, label: string): Promise<Stats> {
  return walkTar(await openLayerTar(layer, label, { diffIdChecked: 'by-caller' }), visit, { label, diffId: layer.diffId });
}

/** Walk one layer blob (the stream as opened, no descriptor checks beyond `diffId`). */
export async function walkLayer(blob: Readable, visit: EntryVisitor, options: WalkOptions | string = {}): Promise<Stats> {
  const opts = typeof options === 'string' ? { label: options } : options;
  return walkTar(await decompressBlob(blob, opts.label ?? 'layer'), visit, opts);
}

/** Walk an uncompressed tar stream. */
export async function walkTar(tar: Readable, visit: EntryVisitor, options: WalkOptions | string = {}): Promise<Stats> {
  const opts = typeof options === 'string' ? { label: options } : options;
  const stats: Stats = { entries: 0, bytes: 0 };
  for await (const { entry, content } of entriesOf(tar, opts, stats)) {
    const sink = visit(entry);
    if (sink) {
      for await (const c of content()) sink.data(c);
      sink.end();
    }
  }
  return stats;
}

async function* entriesOf(tarStream: Readable, opts: WalkOptions, stats: Stats = { entries: 0, bytes: 0 }): AsyncGenerator<LayerEntry> {
  const label = opts.label ?? 'layer';
  let failure: unknown;
  tarStream.on('error', (e) => { failure ??= e; });
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of chunksOf(tarStream)) { hash.update(c); yield c; }
  }
  const src = ByteSource.from(hashed());
  const tr = new TarReader(src, label);
  let finished = false;
  try {
    for (let h = await tr.next(); h; h = await tr.next()) {
      if (h.typeflag === TYPE.XGLOBAL) continue;
      const kind = kindOf(h);
      if (!kind) throw new XbuildError('INVALID_IMAGE', `${label}: entry ${JSON.stringify(h.name.slice(0, 200))} has tar type ${JSON.stringify(String.fromCharCode(h.typeflag))}, which container runtimes refuse`);
      stats.entries++;
      const n = normaliseEntryPath(h.name);
      const parentRef = n.parentRef || (kind === 'hardlink' && normaliseEntryPath(h.linkname).parentRef);
      const entry: WalkEntry = {
        name: h.name, kind, mode: h.mode & 0o7777, size: kind === 'file' ? h.size : 0, ...(kind === 'symlink' || kind === 'hardlink' ? { linkname: h.linkname } : {}),
        uid: h.uid, gid: h.gid, mtime: h.mtime, path: n.path, absolute: n.absolute, parentRef,
      };
      yield { entry, header: h, content: () => tr.content() };
    }
    await src.skip(Number.MAX_SAFE_INTEGER); // trailing bytes still count for the diff_id
    finished = true;
  } catch (err) {
    throw toLayerError(label, failure ?? err);
  } finally {
    if (!finished && !tarStream.readableEnded) tarStream.destroy();
  }
  if (failure) throw toLayerError(label, failure);
  stats.bytes = src.consumed;
  const got = `sha256:${hash.digest('hex')}`;
  if (opts.diffId && got !== opts.diffId) {
    throw new XbuildError('DIGEST_MISMATCH', `${label}: uncompressed content is ${got}, but the config's diff_id says ${opts.diffId}`, { hint: 'runtimes refuse this layer: rebuild the image so rootfs.diff_ids match its layers' });
  }
}

function toLayerError(label: string, err: unknown): Error {
  if (err instanceof XbuildError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new XbuildError('INVALID_IMAGE', `${label}: not a readable tar layer (${msg})`, { cause: err });
}
