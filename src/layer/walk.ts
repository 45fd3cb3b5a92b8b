// Streaming layer walker: reads one layer blob once, in order, with the
// checks a runtime makes (Go archive/tar through tar-reader.ts), and hands
// each entry to a visitor. Nothing is written to disk; content the visitor
// does not read is skipped.
//
// API: walkLayer(blob, visit, { label, diffId }) -> { entries, bytes }
//      walkTar(tar, visit, { label, diffId }) for an already uncompressed tar
//   - the blob is decompressed by its magic (gzip, zstd through
//     compression.ts; else plain tar), as containerd and containers/storage
//     sniff it;
//   - bytes after the gzip stream that are not another gzip member refuse
//     the layer (Go's multistream gzip reader fails on them);
//   - the tar ends at Go's end-of-archive; the rest of the uncompressed
//     stream is still read, because `diffId` (the config's diff_id) is checked
//     over all of it, as umoci and containers/storage do;
//   - entry types a runtime refuses (GNU sparse, contiguous, vendor types)
//     refuse the layer; PAX global headers are skipped (containers/storage).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { XbuildError } from '../errors.ts';
import { decompressor } from './compression.ts';
import { ByteSource, TarReader, TYPE, type TarHeader } from './tar-reader.ts';

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

const GZIP_MAGIC = 0x1f8b;
const ZSTD_MAGIC = 0x28b52ffd;

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

function isPaxSparse(h: TarHeader): boolean {
  const p = h.pax;
  if (!p) return false;
  const major = p.get('GNU.sparse.major'); const minor = p.get('GNU.sparse.minor');
  const fmt = major !== undefined && minor !== undefined ? `${major}.${minor}`
    : p.has('GNU.sparse.name') && p.has('GNU.sparse.map') ? '0.1' : p.has('GNU.sparse.size') ? '0.0' : undefined;
  return fmt === '0.0' || fmt === '0.1' || fmt === '1.0';
}

/** Walk one layer blob (the stream as opened from the image). Rejects with INVALID_IMAGE where a runtime refuses the layer. */
export async function walkLayer(blob: Readable, visit: EntryVisitor, options: WalkOptions | string = {}): Promise<{ entries: number; bytes: number }> {
  const opts = typeof options === 'string' ? { label: options } : options;
  let failure: unknown;
  const tarStream = await decompress(blob, opts.label ?? 'layer', (e) => { failure ??= e; });
  return walkTarChecked(tarStream, visit, opts, () => failure);
}

/** Walk an uncompressed tar stream (e.g. compression.ts openLayerTar's, which also checks zstd:chunked TOCs). */
export async function walkTar(tar: Readable, visit: EntryVisitor, options: WalkOptions | string = {}): Promise<{ entries: number; bytes: number }> {
  const opts = typeof options === 'string' ? { label: options } : options;
  let failure: unknown;
  tar.on('error', (e) => { failure ??= e; });
  return walkTarChecked(tar, visit, opts, () => failure);
}

async function walkTarChecked(tarStream: Readable, visit: EntryVisitor, opts: WalkOptions, failed: () => unknown): Promise<{ entries: number; bytes: number }> {
  const label = opts.label ?? 'layer';
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of tarStream as AsyncIterable<Buffer>) { hash.update(c); yield c; }
  }
  const src = ByteSource.from(hashed());
  const tr = new TarReader(src, label);
  let entries = 0;
  try {
    for (let h = await tr.next(); h; h = await tr.next()) {
      if (h.typeflag === TYPE.XGLOBAL) continue;
      const kind = kindOf(h);
      const shown = JSON.stringify(h.name.slice(0, 200));
      if (!kind) throw new XbuildError('INVALID_IMAGE', `${label}: entry ${shown} has tar type ${JSON.stringify(String.fromCharCode(h.typeflag))}, which container runtimes refuse`);
      if (kind === 'file' && isPaxSparse(h)) throw new XbuildError('UNSUPPORTED', `${label}: entry ${shown} is a GNU sparse file, which verify does not read`, { hint: 'rebuild the layer without sparse files (tar --format=pax without -S)' });
      entries++;
      const n = normaliseEntryPath(h.name);
      const parentRef = n.parentRef || (kind === 'hardlink' && normaliseEntryPath(h.linkname).parentRef);
      const sink = visit({
        name: h.name, kind, mode: h.mode & 0o7777, size: kind === 'file' ? h.size : 0, ...(kind === 'symlink' || kind === 'hardlink' ? { linkname: h.linkname } : {}),
        uid: h.uid, gid: h.gid, mtime: h.mtime, path: n.path, absolute: n.absolute, parentRef,
      });
      if (sink) {
        for await (const c of tr.content()) sink.data(c);
        sink.end();
      }
    }
    await src.skip(Number.MAX_SAFE_INTEGER); // trailing bytes still count for the diff_id
  } catch (err) {
    if (!tarStream.readableEnded) tarStream.destroy();
    throw toLayerError(label, failed() ?? err);
  }
  const failure = failed();
  if (failure) throw toLayerError(label, failure);
  const got = `sha256:${hash.digest('hex')}`;
  if (opts.diffId && got !== opts.diffId) {
    throw new XbuildError('DIGEST_MISMATCH', `${label}: uncompressed content is ${got}, but the config's diff_id says ${opts.diffId}`, { hint: 'runtimes refuse this layer: rebuild the image so rootfs.diff_ids match its layers' });
  }
  return { entries, bytes: src.consumed };
}

function toLayerError(label: string, err: unknown): Error {
  if (err instanceof XbuildError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new XbuildError('INVALID_IMAGE', `${label}: not a readable tar layer (${msg})`, { cause: err });
}

/** Peek at the first chunk: gzip -> gunzip (no trailing garbage), zstd -> unsupported, else plain tar. */
async function decompress(blob: Readable, label: string, onError: (e: unknown) => void): Promise<Readable> {
  const it = (blob as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let first: IteratorResult<Buffer | string>;
  try { first = await it.next(); } catch (err) { throw wrapRead(label, err); }
  if (first.done) return Readable.from([], { objectMode: false });
  const head = Buffer.from(first.value);
  let fed = 0;
  async function* rest(): AsyncGenerator<Buffer> {
    fed += head.length;
    yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      const b = Buffer.from(r.value);
      fed += b.length;
      yield b;
    }
  }
  const raw = Readable.from(rest(), { objectMode: false });
  if (head.length >= 4 && head.readUInt32BE(0) === ZSTD_MAGIC) {
    const z = decompressor('zstd');
    raw.on('error', (e) => { onError(wrapRead(label, e)); z.destroy(e); });
    z.on('error', onError);
    return raw.pipe(z);
  }
  if (head.length >= 2 && head.readUInt16BE(0) === GZIP_MAGIC) {
    const gz = createGunzip();
    raw.on('error', (e) => { onError(wrapRead(label, e)); gz.destroy(e); });
    gz.on('error', onError);
    // zlib stops quietly at bytes after the last member that are not a gzip header; Go's reader fails there
    gz.on('end', () => {
      if (gz.bytesWritten !== fed) onError(new XbuildError('INVALID_IMAGE', `${label}: ${fed - gz.bytesWritten} bytes after the end of the gzip stream (runtimes refuse the layer)`));
    });
    return raw.pipe(gz);
  }
  return raw;
}

function wrapRead(label: string, err: unknown): Error {
  if (err instanceof XbuildError) return err;
  return new XbuildError('IO', `${label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
