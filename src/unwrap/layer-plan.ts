// What `unwrap` does to one layer built on top of the xbuild layer: a scan of
// its tar headers (and the digests of small files, to recognise copies of the
// shim), then a plan per entry: keep, drop, or emit under another name.
//   - xbuild-owned paths (src/shims/owned.ts) and whiteouts that only concern
//     them are dropped;
//   - a swapped shell (`P` is the shim, `P.xbuild-orig` in the same layer)
//     gets its original back: the original's entry is emitted as `P` (bytes,
//     mode, owner, mtime kept), the shim's entry is dropped;
//   - a shim at `P` without its original in the layer is dropped (the layer
//     below holds what was there before the swap);
//   - hard links keep working: a link to a renamed entry follows the new
//     name; when an owned file that kept entries link to is dropped, its
//     bytes move to the first of those links and the others link to that.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { layerEntries, normaliseEntryPath } from '../layer/walk.ts';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../layer/fs-view.ts';
import type { Layer } from '../oci/model.ts';
import { ORIGINAL_SUFFIX } from '../contract/in-image.ts';
import { isXbuildOwned } from '../contract/owned.ts';
import { XbuildError } from '../errors.ts';

/** Files up to this size are hashed during the scan (the shim is about 10 KiB). */
export const HASHED_MAX = 1 << 20;

/** Entry types by the names tar-stream's writer takes (the rewrite writes with it). */
export type EntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface ScannedEntry {
  /** Byte-exact (latin1) path, normalised. */
  path: string;
  type: EntryType;
  linkname?: string;
  size: number;
  /** sha256 of the content (files up to HASHED_MAX only). */
  digest?: string;
}

export type Action = { kind: 'keep' } | { kind: 'drop' } | { kind: 'emit'; path: string; linkname?: string; type?: 'file' };

export interface LayerPlan {
  actions: Action[];
  /** True when any entry is not kept as it is: the layer must be rewritten. */
  changed: boolean;
  dropped: number;
  restored: string[];
}

const TYPES: Record<string, EntryType> = { file: 'file', hardlink: 'link', symlink: 'symlink', dir: 'directory' };
const OTHER: Record<number, EntryType> = { 0x33: 'character-device', 0x34: 'block-device', 0x36: 'fifo' };

/** The tar-stream type of a walked entry. */
export function entryType(kind: string, typeflag: number): EntryType {
  return TYPES[kind] ?? OTHER[typeflag] ?? 'file';
}

/** Every entry of a layer as runtimes read it (walk.ts: blob digest, zstd:chunked TOC, tar, diff_id), with hashes of small files. */
export async function scanLayer(layer: Pick<Layer, 'descriptor' | 'diffId' | 'open'>, label: string, opts: { hash?: boolean } = {}): Promise<ScannedEntry[]> {
  const out: ScannedEntry[] = [];
  for await (const { entry, header, content } of layerEntries(layer, label)) {
    const e: ScannedEntry = { path: entry.path, type: entryType(entry.kind, header.typeflag), size: entry.size };
    if (entry.kind === 'hardlink' && entry.linkname) e.linkname = normaliseEntryPath(entry.linkname).path;
    if (opts.hash !== false && entry.kind === 'file' && e.size <= HASHED_MAX) {
      const hash = createHash('sha256');
      for await (const c of content()) hash.update(c);
      e.digest = `sha256:${hash.digest('hex')}`;
    }
    out.push(e);
  }
  return out;
}

/** A whiteout entry's target, or the opaque directory; undefined for an ordinary entry. */
function whiteoutOf(path: string): { target: string; opaque: boolean } | undefined {
  const base = posix.basename(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
  if (base === OPAQUE_WHITEOUT) return { target: dir, opaque: true };
  const name = base.slice(WHITEOUT_PREFIX.length);
  return { target: dir ? `${dir}/${name}` : name, opaque: false };
}

/**
 * The plan for one layer, given the sha256 digests of the shim's bytes and
 * the directories only the xbuild layer made (absent from the base): their
 * entries go too unless the layer keeps something below them.
 */
export function planLayer(entries: ScannedEntry[], shimDigests: Set<string>, xbuildOnlyDirs: Set<string> = new Set()): LayerPlan {
  const actions: Action[] = entries.map(() => ({ kind: 'keep' }));
  const byPath = new Map<string, number>();
  entries.forEach((e, i) => byPath.set(e.path, i));
  const isShim = (i: number | undefined): boolean => {
    if (i === undefined) return false;
    const e = entries[i]!;
    return e.type === 'file' && e.digest !== undefined && shimDigests.has(e.digest);
  };
  const restored: string[] = [];
  const newName = new Map<string, string>(); // old path -> where its bytes are now
  for (const [i, e] of entries.entries()) {
    const wo = whiteoutOf(e.path);
    if (wo) { if (wo.target !== '' && isXbuildOwned(wo.target)) actions[i] = { kind: 'drop' }; continue; }
    if (isXbuildOwned(e.path)) {
      const shell = e.path.endsWith(ORIGINAL_SUFFIX) ? e.path.slice(0, -ORIGINAL_SUFFIX.length) : undefined;
      const j = shell !== undefined ? byPath.get(shell) : undefined;
      if (shell !== undefined && !isXbuildOwned(shell) && isShim(j) && (e.type === 'file' || e.type === 'link')) {
        actions[i] = { kind: 'emit', path: shell };
        actions[j!] = { kind: 'drop' };
        newName.set(e.path, shell);
        restored.push(shell);
      } else {
        actions[i] = { kind: 'drop' };
      }
      continue;
    }
    if (isShim(i) && actions[i]!.kind === 'keep') actions[i] = { kind: 'drop' };
  }
  // Hard links: follow renames; a dropped target hands its bytes to its first kept link.
  for (const [i, e] of entries.entries()) {
    if (e.type !== 'link' || e.linkname === undefined || actions[i]!.kind === 'drop') continue;
    const t = byPath.get(e.linkname);
    const moved = newName.get(e.linkname);
    const self = actions[i]!;
    const path = self.kind === 'emit' ? self.path : e.path;
    if (moved !== undefined) { actions[i] = { kind: 'emit', path, linkname: moved }; continue; }
    if (t === undefined || actions[t]!.kind !== 'drop') {
      if (self.kind === 'emit') actions[i] = { kind: 'emit', path, linkname: e.linkname };
      continue;
    }
    if (entries[t]!.type !== 'file') throw new XbuildError('UNSUPPORTED', `layer entry ${e.path} is a hard link to ${e.linkname}, which is dropped and holds no bytes`);
    actions[t] = { kind: 'emit', path, type: 'file' };
    actions[i] = { kind: 'drop' };
    newName.set(e.linkname, path);
  }
  // Directories that exist only because of the xbuild layer, with nothing kept below them here.
  for (const [i, e] of entries.entries()) {
    if (e.type !== 'directory' || !xbuildOnlyDirs.has(e.path) || actions[i]!.kind === 'drop') continue;
    const below = `${e.path}/`;
    if (!entries.some((x, j) => actions[j]!.kind !== 'drop' && x.path.startsWith(below))) actions[i] = { kind: 'drop' };
  }
  const dropped = actions.filter((a) => a.kind === 'drop').length;
  return { actions, changed: actions.some((a) => a.kind !== 'keep'), dropped, restored };
}
