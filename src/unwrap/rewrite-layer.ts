// Writes a layer again following its plan (layer-plan.ts): kept entries are
// re-emitted with their headers as read (mode, owner, names, mtime, pax
// records such as xattrs), renamed ones under their new name. No new time
// enters the tar and gzip runs at a fixed level with a zero header mtime, so
// the same input gives the same bytes (SOURCE_DATE_EPOCH has nothing to set).
// Like buildLayer, the result is an opener: generated once to hash, again on
// every open, each time checked against the first digest.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Header } from 'tar-stream';
import type { Descriptor, Layer } from '../oci/model.ts';
import { Measure } from '../layer/build.ts';
import { annotationsForRewrite, compressor, layerCompression, layerMediaType } from '../layer/compression.ts';
import type { TarHeader } from '../layer/tar-header.ts';
import { layerEntries, type WalkEntry } from '../layer/walk.ts';
import { verifying } from '../oci/digest.ts';
import { XbuildError } from '../errors.ts';
import { entryType, type LayerPlan } from './layer-plan.ts';

type Headers = Header & { pax?: Record<string, string> };

/** The name as stored, with the new path: keeps a "./" prefix and a directory's trailing slash. */
function renamed(raw: string, path: string, dir: boolean): string {
  const prefix = raw.startsWith('./') ? './' : raw.startsWith('/') ? '/' : '';
  return `${prefix}${path}${dir ? '/' : ''}`;
}

/** A byte-exact (latin1) string from the reader as the UTF-8 text tar-stream writes; refused when the bytes are not UTF-8 (the rewrite would change them). */
function utf8(latin1: string, what: string, label: string): string {
  const bytes = Buffer.from(latin1, 'latin1');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) {
    throw new XbuildError('UNSUPPORTED', `${label}: ${what} is not UTF-8; rewriting this layer would change it`, { hint: 'please report this image: unwrap cannot rewrite this layer faithfully yet' });
  }
  return text;
}

/** PAX records written again (path, linkpath and size come from the header; sparse maps describe bytes the rewrite stores densely). */
function paxFor(h: TarHeader, shown: string, label: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of h.pax ?? []) {
    if (k === 'path' || k === 'linkpath' || k === 'size' || (h.sparse && k.startsWith('GNU.sparse.'))) continue;
    out[utf8(k, `${shown} has a pax record name that`, label)] = utf8(v, `${shown}'s pax record ${JSON.stringify(k)}`, label);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function headerFor(entry: WalkEntry, h: TarHeader, action: LayerPlan['actions'][number], label: string): Headers {
  const shown = JSON.stringify(h.name.slice(0, 200));
  const type = entryType(entry.kind, h.typeflag);
  let name = h.name; let linkname = entry.kind === 'symlink' || entry.kind === 'hardlink' ? h.linkname : undefined;
  let outType: Headers['type'] = type;
  if (action.kind === 'emit') {
    name = renamed(h.name, action.path, type === 'directory');
    if (action.linkname !== undefined) linkname = renamed(h.linkname, action.linkname, false);
    if (action.type === 'file') { outType = 'file'; linkname = undefined; }
  }
  const pax = paxFor(h, shown, label);
  const out: Headers = {
    name: utf8(name, `the name ${shown}`, label), type: outType, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: new Date(h.mtime * 1000),
    size: outType === 'file' ? entry.size : 0, uname: utf8(h.uname, `${shown}'s owner name`, label), gname: utf8(h.gname, `${shown}'s group name`, label),
    devmajor: h.devmajor, devminor: h.devminor, linkname: linkname === undefined ? '' : utf8(linkname, `${shown}'s link target`, label),
  };
  if (pax) out.pax = pax;
  return out;
}

/** A fresh uncompressed tar of `layer` (read as verify reads it) rewritten by `plan`. */
export function rewrittenTar(layer: Pick<Layer, 'descriptor' | 'diffId' | 'open'>, plan: LayerPlan, label: string): Readable {
  const pack = tarPack();
  (async () => {
    let i = 0;
    for await (const { entry, header, content } of layerEntries(layer, label)) {
      const action = plan.actions[i++];
      if (!action) throw new XbuildError('INVALID_IMAGE', `${label} changed while it was read: more entries than at first`);
      if (action.kind === 'drop') continue;
      const h = headerFor(entry, header, action, label);
      await new Promise<void>((res, rej) => {
        const w = pack.entry(h, (err) => (err ? rej(err) : res())) as unknown as NodeJS.WritableStream;
        (async () => {
          if (h.type === 'file') for await (const c of content()) if (!w.write(c)) await new Promise<void>((r) => w.once('drain', () => r()));
          w.end();
        })().catch(rej);
      });
    }
    if (i !== plan.actions.length) throw new XbuildError('INVALID_IMAGE', `${label} changed while it was read: fewer entries than at first`);
    pack.finalize();
  })().catch((err) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return pack as unknown as Readable;
}

/**
 * The rewritten layer, compressed as the layer it replaces (gzip, zstd or
 * none; zstd:chunked becomes plain zstd, its TOC annotations dropped): one
 * pass to hash; open() regenerates and verifies.
 */
export async function rewriteLayer(layer: Layer, plan: LayerPlan, manifestMediaType: string, label: string): Promise<Layer> {
  const compression = layerCompression(layer.descriptor.mediaType, label);
  const uncompressed = new Measure();
  const compressed = new Measure();
  await pipeline(rewrittenTar(layer, plan, label), uncompressed, compressor(compression), compressed, new PassThrough().resume());
  const annotations = annotationsForRewrite(layer.descriptor);
  const descriptor: Descriptor = {
    mediaType: layerMediaType(compression, manifestMediaType), digest: `sha256:${compressed.hash.digest('hex')}`, size: compressed.size,
    ...(annotations ? { annotations } : {}),
  };
  return {
    descriptor,
    diffId: `sha256:${uncompressed.hash.digest('hex')}`,
    open: async () => {
      const t = rewrittenTar(layer, plan, label);
      const c = compressor(compression);
      t.on('error', (e) => c.destroy(e));
      return verifying(t.pipe(c), descriptor, `${label} (rewritten)`);
    },
  };
}
