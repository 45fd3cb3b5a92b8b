// The merged file system of an image, as a runtime would unpack it (OCI
// whiteouts, opaque directories, hard links), as facts per path: type, mode,
// owner, content digest, link target. For comparing images file by file.
import { createHash } from 'node:crypto';
import { walkLayer } from '../../src/layer/walk.ts';
import type { Image, Layer } from '../../src/oci/model.ts';

export interface FileFacts { type: 'file' | 'dir' | 'symlink' | 'other'; mode: number; uid: number; gid: number; digest?: string; linkname?: string }

export async function mergedFs(layers: Layer[]): Promise<Map<string, FileFacts>> {
  const fs = new Map<string, FileFacts>();
  const removeBelow = (p: string, self: boolean) => {
    for (const k of [...fs.keys()]) if ((self && k === p) || k.startsWith(p === '' ? '' : `${p}/`)) fs.delete(k);
  };
  for (const layer of layers) {
    await walkLayer(await layer.open(), (e) => {
      if (e.path === '') return undefined;
      const slash = e.path.lastIndexOf('/');
      const dir = slash < 0 ? '' : e.path.slice(0, slash);
      const base = e.path.slice(slash + 1);
      if (base === '.wh..wh..opq') { removeBelow(dir, false); return undefined; }
      if (base.startsWith('.wh.')) { removeBelow(dir ? `${dir}/${base.slice(4)}` : base.slice(4), true); return undefined; }
      const meta = { mode: e.mode, uid: e.uid, gid: e.gid };
      if (e.kind === 'dir') { const had = fs.get(e.path); if (had && had.type !== 'dir') removeBelow(e.path, true); fs.set(e.path, { type: 'dir', ...meta }); return undefined; }
      removeBelow(e.path, true);
      if (e.kind === 'symlink') { fs.set(e.path, { type: 'symlink', ...meta, linkname: e.linkname }); return undefined; }
      if (e.kind === 'hardlink') { const t = fs.get(e.linkname ?? ''); if (t) fs.set(e.path, { ...t }); return undefined; }
      if (e.kind === 'other') { fs.set(e.path, { type: 'other', ...meta }); return undefined; }
      const h = createHash('sha256');
      return { data: (c) => { h.update(c); }, end: () => { fs.set(e.path, { type: 'file', ...meta, digest: `sha256:${h.digest('hex')}` }); } };
    });
  }
  return fs;
}

export async function mergedFsOf(img: Image): Promise<Map<string, FileFacts>> { return mergedFs(await img.layers()); }

/** Paths of every entry of every layer (whiteouts included). */
export async function layerPaths(layers: Layer[]): Promise<string[][]> {
  const out: string[][] = [];
  for (const l of layers) {
    const ps: string[] = [];
    await walkLayer(await l.open(), (e) => { ps.push(e.path); return undefined; });
    out.push(ps);
  }
  return out;
}
