// Streams an image's layers once and builds the filesystem view verify needs:
// every symlink, and for the files that matter (bin dirs, xbuild state,
// /etc/shells, *.xbuild-orig) their ELF facts (from a bounded capture),
// sha256 and, for small text files, their text. Nothing is written to disk.
import { ElfCapture, type CaptureLimits, DEFAULT_CAPTURE_LIMITS } from '../elf/bytes.ts';
import { tryInspectElf, type ElfInfo } from '../elf/inspect.ts';
import { FsView } from '../layer/fs-view.ts';
import { walkLayer, type ContentSink, type WalkEntry } from '../layer/walk.ts';
import type { Layer } from '../oci/model.ts';
import type { OnProgress } from '../progress.ts';
import { ORIGINAL_SUFFIX, STATE_FILE } from '../contract/in-image.ts';
import { DPKG_HOOK } from '../contract/in-image.ts';
import { wrapError } from '../errors.ts';
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
}

export async function collectImageView(layers: Layer[], opts: { onProgress?: OnProgress; limits?: CaptureLimits } = {}): Promise<Collected> {
  const view = new FsView<ContentInfo>();
  const findings: Finding[] = [];
  const limits = opts.limits ?? DEFAULT_CAPTURE_LIMITS;
  let bytes = 0; let entries = 0;
  for (const [i, layer] of layers.entries()) {
    const label = `layer ${i + 1}/${layers.length} ${layer.descriptor.digest.slice(0, 19)}`;
    opts.onProgress?.({ kind: 'step', message: `reading ${label} (${layer.descriptor.size} bytes)` });
    try {
      const blob = await layer.open();
      await walkLayer(blob, (e) => {
        entries++;
        bytes += e.kind === 'file' ? e.size : 0;
        return applyEntry(view, i, e, findings, limits, label);
      }, label);
    } catch (err) {
      throw wrapError(`reading ${label}`, err);
    }
    opts.onProgress?.({ kind: 'done', id: layer.descriptor.digest, label, note: 'read' });
  }
  return { view, findings, bytes, entries };
}

function applyEntry(view: FsView<ContentInfo>, layer: number, e: WalkEntry, findings: Finding[], limits: CaptureLimits, label: string): ContentSink | undefined {
  if (e.parentRef) {
    findings.push(finding('layer-path-parent', e.rawName, `${label} has an entry "${e.rawName}"${e.kind === 'hardlink' ? ` (hard link to "${e.linkname}")` : ''} with a ".." component; it was not applied`,
      'rebuild the layer with a tool that writes relative paths inside the root (tar -C rootdir .)'));
    return undefined;
  }
  if (e.absolute) {
    findings.push(finding('layer-path-absolute', e.rawName, `${label} has an absolute entry name "${e.rawName}"; read as "${e.path}" as Docker does`,
      'rebuild the layer with relative entry names (tar -C rootdir .)'));
  }
  if (e.path === '') return undefined;
  if (view.applyWhiteout(layer, e.path)) return undefined;
  switch (e.kind) {
    case 'dir': view.setDir(e.path, layer); return undefined;
    case 'symlink': view.set(e.path, { kind: 'symlink', mode: e.mode, size: 0, linkname: e.linkname ?? '', layer }); return undefined;
    case 'hardlink': {
      if (!isKeptPath(e.path)) { view.shadow(e.path, layer); return undefined; }
      const target = view.get(e.linkname ?? '');
      view.set(e.path, target ? { ...target, layer } : { kind: 'file', mode: e.mode, size: 0, layer });
      return undefined;
    }
    case 'other': if (isKeptPath(e.path)) view.set(e.path, { kind: 'other', mode: e.mode, size: 0, layer }); else view.shadow(e.path, layer); return undefined;
    case 'file': break;
  }
  if (!isKeptPath(e.path)) { view.shadow(e.path, layer); return undefined; }
  const node = { kind: 'file' as const, mode: e.mode, size: e.size, layer, content: undefined as ContentInfo | undefined };
  view.set(e.path, node);
  const cap = new ElfCapture(e.size, limits);
  const textParts: Buffer[] = []; let textLen = 0;
  const wantText = TEXT_FILES.has(e.path);
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
        const r = tryInspectElf(bytes, e.path);
        if ('elf' in r) info.elf = r.elf; else info.elfError = r.error.message;
      } else {
        const first = bytes.read(0, Math.min(256, bytes.size));
        if (first && first[0] === 0x23 && first[1] === 0x21) info.shebang = first.toString('latin1').split('\n')[0];
      }
      if (wantText) info.text = Buffer.concat(textParts).subarray(0, TEXT_MAX).toString('utf8');
      node.content = info;
    },
  };
}
