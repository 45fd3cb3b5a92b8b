// Streams an image's layers once and builds the filesystem view verify needs:
// every symlink, and for the files that matter (bin dirs, xbuild state,
// /etc/shells, *.xbuild-orig) their ELF facts (from a bounded capture),
// sha256 and, for small text files, their text. Nothing is written to disk.
import { ElfCapture, type CaptureLimits, DEFAULT_CAPTURE_LIMITS } from '../elf/bytes.ts';
import { tryInspectElf, type ElfInfo } from '../elf/inspect.ts';
import { ApplyError, FsView, WHITEOUT_PREFIX, type Applied } from '../layer/fs-view.ts';
import { isXbuildOwned } from '../contract/owned.ts';
import { walkImageLayer, type ContentSink, type WalkEntry } from '../layer/walk.ts';
import type { Layer } from '../oci/model.ts';
import type { OnProgress } from '../progress.ts';
import { ORIGINAL_SUFFIX, STATE_FILE } from '../contract/in-image.ts';
import { DPKG_HOOK } from '../contract/in-image.ts';
import { XbuildError, wrapError } from '../errors.ts';
import { displayPath, quoteName } from './escape.ts';
import { finding, type Finding } from './findings.ts';

export interface ContentInfo {
  digest: string;
  isElf: boolean;
  elf?: ElfInfo;
  /** Why an ELF file could not be inspected. */
  elfError?: string;
  /** Text of small text files verify reads (/etc/shells, the state file). */
  text?: string;
  /** First line of a `#!` script. */
  shebang?: string;
}

export const KEPT_DIRS = ['bin/', 'sbin/', 'usr/bin/', 'usr/sbin/', 'usr/local/bin/', 'usr/local/sbin/', 'usr/lib/xbuild/', 'lib/xbuild/'];
const TEXT_FILES = new Set(['etc/shells', STATE_FILE]);
const TEXT_MAX = 64 << 10;

export function isKeptPath(path: string): boolean {
  return TEXT_FILES.has(path) || path === DPKG_HOOK || path.endsWith(ORIGINAL_SUFFIX) || KEPT_DIRS.some((d) => path.startsWith(d));
}

export interface Collected {
  view: FsView<ContentInfo>;
  findings: Finding[];
  /** Uncompressed bytes of tar content read (all layers). */
  bytes: number;
  entries: number;
  /** Every xbuild-owned path any layer holds (verify --final: shipped even when a later layer hides it). */
  ownedInLayers: { layer: number; path: string }[];
}

export async function collectImageView(layers: Layer[], opts: { onProgress?: OnProgress; limits?: CaptureLimits; keep?: (path: string) => boolean } = {}): Promise<Collected> {
  const view = new FsView<ContentInfo>();
  const findings: Finding[] = [];
  const limits = opts.limits ?? DEFAULT_CAPTURE_LIMITS;
  const keep = opts.keep ?? isKeptPath;
  let bytes = 0; let entries = 0;
  const ownedInLayers: Collected['ownedInLayers'] = [];
  for (const [i, layer] of layers.entries()) {
    const label = `layer ${i + 1}/${layers.length} ${layer.descriptor.digest.slice(0, 19)}`;
    opts.onProgress?.({ kind: 'step', message: `reading ${label} (${layer.descriptor.size} bytes)` });
    view.beginLayer(i);
    try {
      let ordinal = 0;
      const r = await walkImageLayer(layer, (e) => {
        if (e.kind !== 'dir' && !e.path.split('/').pop()!.startsWith(WHITEOUT_PREFIX) && isXbuildOwned(e.path)) ownedInLayers.push({ layer: i, path: e.path });
        return applyEntry(view, e, ordinal++, findings, limits, label, keep);
      }, label);
      entries += r.entries; bytes += r.bytes;
    } catch (err) {
      throw wrapError(`reading ${label}`, err);
    }
    opts.onProgress?.({ kind: 'done', id: layer.descriptor.digest, label, note: 'read' });
  }
  return { view, findings, bytes, entries, ownedInLayers };
}

function applyEntry(view: FsView<ContentInfo>, e: WalkEntry, entry: number, findings: Finding[], limits: CaptureLimits, label: string, keep: (path: string) => boolean): ContentSink | undefined {
  const shown = quoteName(e.name);
  let applied: Applied<ContentInfo>;
  try {
    applied = view.apply({ ...e, entry });
  } catch (err) {
    if (!(err instanceof ApplyError)) throw err;
    throw new XbuildError('INVALID_IMAGE', `${label}: entry ${shown}${e.linkname !== undefined ? ` (-> ${quoteName(e.linkname)})` : ''}: ${err.message}; container runtimes fail to unpack this layer`,
      { hint: 'rebuild the image: no runtime can run it as it is' });
  }
  const comps = e.name.split('/');
  if (comps.includes('..') || (e.kind === 'hardlink' && (e.linkname ?? '').split('/').includes('..'))) {
    findings.push(finding('layer-path-parent', displayPath(e.name), `${label} has an entry ${shown}${e.kind === 'hardlink' ? ` (hard link to ${quoteName(e.linkname ?? '')})` : ''} with a ".." component; runtimes clamp it at the image root`,
      'rebuild the layer with a tool that writes relative paths inside the root (tar -C rootdir .)'));
  } else if (e.name.startsWith('/')) {
    findings.push(finding('layer-path-absolute', displayPath(e.name), `${label} has an absolute entry name ${shown}; read relative to the image root as runtimes do`,
      'rebuild the layer with relative entry names (tar -C rootdir .)'));
  }
  if (applied.kind !== 'node' || applied.node.kind !== 'file' || e.kind !== 'file') return undefined;
  const path = applied.path;
  if (!keep(path)) return undefined;
  const node = applied.node;
  return captureContent(path, e.size, limits, (info) => { node.content = info; });
}

/** A sink that records ELF facts, digest, #! line and (for the small text files) text of one file. */
function captureContent(path: string, size: number, limits: CaptureLimits, done: (info: ContentInfo) => void, wantText = TEXT_FILES.has(path)): ContentSink {
  const cap = new ElfCapture(size, limits);
  const textParts: Buffer[] = []; let textLen = 0;
  return {
    data(chunk) {
      cap.push(chunk);
      if (wantText && textLen < TEXT_MAX) { textParts.push(chunk); textLen += chunk.length; }
    },
    end() {
      const bytes = cap.bytes();
      const head = bytes.read(0, Math.min(4, bytes.size));
      const isElf = head !== undefined && head.length === 4 && head.readUInt32BE(0) === 0x7f454c46;
      const info: ContentInfo = { digest: cap.digest(), isElf };
      if (isElf) {
        const r = tryInspectElf(bytes, path);
        if ('elf' in r) info.elf = r.elf; else info.elfError = r.error.message;
      } else {
        const first = bytes.read(0, Math.min(256, bytes.size));
        if (first && first[0] === 0x23 && first[1] === 0x21) info.shebang = first.toString('latin1').split('\n')[0];
      }
      if (wantText) info.text = Buffer.concat(textParts).subarray(0, TEXT_MAX).toString('latin1');
      done(info);
    },
  };
}

/**
 * Second look: the files that `paths` resolve to (through every link) whose
 * content was not kept in the first pass (a /bin/sh -> /opt/x link added by a
 * later layer, /etc/shells -> elsewhere) are read again from the layers that
 * wrote them, by entry ordinal. Memory stays bounded: only these files are read.
 * Returns how many files were filled in.
 */
export async function readResolved(view: FsView<ContentInfo>, layers: Layer[], paths: string[], opts: { limits?: CaptureLimits } = {}): Promise<number> {
  const limits = opts.limits ?? DEFAULT_CAPTURE_LIMITS;
  const want = new Map<number, Map<number, { path: string; text: boolean }>>();
  for (const p of paths) {
    const l = view.lookup(p);
    if (!l.found || l.node.kind !== 'file' || l.node.content || !l.node.origin) continue;
    const { layer, entry } = l.node.origin;
    const m = want.get(layer) ?? new Map<number, { path: string; text: boolean }>();
    m.set(entry, { path: l.path, text: m.get(entry)?.text || TEXT_FILES.has(p) });
    want.set(layer, m);
  }
  const got = new Map<string, ContentInfo>();
  for (const [li, entries] of want) {
    const layer = layers[li]!;
    const label = `layer ${li + 1}/${layers.length} ${layer.descriptor.digest.slice(0, 19)}`;
    let ordinal = 0;
    try {
      await walkImageLayer(layer, (e) => {
        const w = entries.get(ordinal++);
        if (!w || e.kind !== 'file') return undefined;
        const key = `${li}:${ordinal - 1}`;
        return captureContent(w.path, e.size, limits, (info) => { got.set(key, info); }, w.text);
      }, label);
    } catch (err) {
      throw wrapError(`reading ${label} again`, err);
    }
  }
  if (got.size === 0) return 0;
  let n = 0;
  for (const p of view.paths()) {
    const node = view.get(p);
    const o = node?.origin;
    const info = o && !node.content ? got.get(`${o.layer}:${o.entry}`) : undefined;
    if (info) { node!.content = info; n++; }
  }
  return n;
}
