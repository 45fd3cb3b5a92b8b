// Streaming layer walker: reads one layer blob (tar, gzip or zstd: decoders in
// compression.ts) once, in order, and hands each entry to a visitor with its path normalised. Nothing
// is ever written to disk; entry contents the visitor does not read are
// drained. Unsafe names (absolute, or with `..`) are flagged, not resolved.
import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { XbuildError } from '../errors.ts';
import { decompressBlob } from './compression.ts';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface WalkEntry {
  /** Normalised path: relative, no leading "./" or "/", no trailing "/", no "." components. */
  path: string;
  /** The name as stored in the tar header. */
  rawName: string;
  kind: EntryKind;
  mode: number;
  size: number;
  /** symlink target as stored (may be absolute or relative); hardlink target normalised like `path`. */
  linkname?: string;
  /** The stored name started with "/" (normalised here by stripping it, as Docker does). */
  absolute: boolean;
  /** The stored name (or hardlink target) has a ".." component: never applied to a view. */
  parentRef: boolean;
}

/** Receives an entry's content chunks in order, then `end()` once. */
export interface ContentSink {
  data(chunk: Buffer): void;
  end(): void;
}

/** Visitor: return a sink to receive the entry's content, or nothing to skip it (the walker drains it). */
export type EntryVisitor = (entry: WalkEntry) => ContentSink | undefined | void;

export interface NormalisedPath { path: string; absolute: boolean; parentRef: boolean }

export function normaliseEntryPath(name: string): NormalisedPath {
  const absolute = name.startsWith('/');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return { path: parts.join('/'), absolute, parentRef: parts.includes('..') };
}

/** Walk one layer blob (the stream as opened from the image). Rejects with INVALID_IMAGE on a broken tar/gzip/zstd. */
export async function walkLayer(blob: Readable, visit: EntryVisitor, label = 'layer'): Promise<void> {
  return walkTar(await decompressBlob(blob, label), visit, label);
}

/** Walk an uncompressed tar stream (e.g. compression.ts openLayerTar: diff_id checked at its end). */
export async function walkTar(tar: Readable, visit: EntryVisitor, label = 'layer'): Promise<void> {
  const ex = tarExtract();
  let failure: unknown;
  tar.on('error', (err) => { failure ??= err; ex.destroy(err); });
  tar.pipe(ex);
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const n = normaliseEntryPath(h.name);
      const kind: EntryKind = h.type === 'file' || h.type === 'contiguous-file' ? 'file'
        : h.type === 'directory' ? 'dir' : h.type === 'symlink' ? 'symlink' : h.type === 'link' ? 'hardlink' : 'other';
      let linkname = h.linkname ?? undefined;
      let parentRef = n.parentRef;
      if (kind === 'hardlink' && linkname !== undefined) {
        const l = normaliseEntryPath(linkname);
        linkname = l.path;
        parentRef ||= l.parentRef;
      }
      const we: WalkEntry = {
        path: n.path, rawName: h.name, kind, mode: (h.mode ?? 0) & 0o7777, size: h.size ?? 0,
        linkname: linkname ?? undefined, absolute: n.absolute, parentRef,
      };
      const sink = visit(we);
      for await (const chunk of entry as AsyncIterable<Buffer>) sink?.data(chunk);
      sink?.end();
    }
  } catch (err) {
    throw invalid(label, failure ?? err);
  } finally {
    if (!tar.readableEnded) tar.destroy(); // stopped early: release the blob (file handle, connection)
  }
  if (failure) throw invalid(label, failure);
}

function invalid(label: string, err: unknown): Error {
  if (err instanceof XbuildError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new XbuildError('INVALID_IMAGE', `${label}: not a readable tar layer (${msg})`, { cause: err });
}
