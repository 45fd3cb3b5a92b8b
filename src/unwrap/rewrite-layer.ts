// Writes a layer again following its plan (layer-plan.ts): kept entries are
// re-emitted with their headers as read (mode, owner, names, mtime, pax
// records such as xattrs), renamed ones under their new name. No new time
// enters the tar and gzip runs at a fixed level with a zero header mtime, so
// the same input gives the same bytes (SOURCE_DATE_EPOCH has nothing to set).
// Like buildLayer, the result is an opener: generated once to hash, again on
// every open, each time checked against the first digest.
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Header } from 'tar-stream';

type Headers = Header & { pax?: Record<string, string> };
import type { Descriptor, Layer } from '../oci/model.ts';
import { Measure } from '../layer/build.ts';
import { annotationsForRewrite, compressor, layerCompression, layerMediaType } from '../layer/compression.ts';
import { verifying } from '../oci/digest.ts';
import { XbuildError } from '../errors.ts';
import { tarEntries, type LayerPlan } from './layer-plan.ts';

/** The name as stored, with the new path: keeps a "./" prefix and a directory's trailing slash. */
function renamed(raw: string, path: string, dir: boolean): string {
  const prefix = raw.startsWith('./') ? './' : raw.startsWith('/') ? '/' : '';
  return `${prefix}${path}${dir ? '/' : ''}`;
}

function headerFor(h: Headers, action: LayerPlan['actions'][number], label: string): Headers {
  const pax = h.pax ? { ...h.pax } : undefined;
  if (pax) {
    delete pax.path; delete pax.linkpath; delete pax.size; // written again from the header
    for (const [k, v] of Object.entries(pax)) {
      if (String(v).includes('\uFFFD')) {
        throw new XbuildError('UNSUPPORTED', `${label}: ${h.name} has a binary pax record ${k}; rewriting this layer would change it`, { hint: 'please report this image: unwrap cannot rewrite this layer faithfully yet' });
      }
    }
  }
  const out: Headers = { ...h, ...(pax && Object.keys(pax).length ? { pax } : { pax: undefined }) };
  if (action.kind === 'emit') {
    out.name = renamed(h.name, action.path, h.type === 'directory');
    if (action.type === 'file') out.type = 'file';
    if (action.linkname !== undefined) out.linkname = renamed(h.linkname ?? '', action.linkname, false);
    if (action.type === 'file') delete (out as { linkname?: string }).linkname;
  }
  if (out.pax === undefined) delete out.pax;
  return out;
}

/** A fresh uncompressed tar of `source` rewritten by `plan`. */
export function rewrittenTar(source: () => Promise<Readable>, plan: LayerPlan, label: string): Readable {
  const pack = tarPack();
  (async () => {
    let i = 0;
    for await (const { header, stream } of tarEntries(await source(), label)) {
      const action = plan.actions[i++];
      if (!action) throw new XbuildError('INVALID_IMAGE', `${label} changed while it was read: more entries than at first`);
      if (action.kind === 'drop') { for await (const _ of stream) { /* drain */ } continue; }
      const h = headerFor(header as Headers, action, label);
      await new Promise<void>((res, rej) => {
        const w = pack.entry(h, (err) => (err ? rej(err) : res())) as unknown as NodeJS.WritableStream;
        (async () => { for await (const c of stream) if (!w.write(c)) await new Promise<void>((r) => w.once('drain', () => r())); w.end(); })().catch(rej);
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
  await pipeline(rewrittenTar(() => layer.open(), plan, label), uncompressed, compressor(compression), compressed, new PassThrough().resume());
  const annotations = annotationsForRewrite(layer.descriptor);
  const descriptor: Descriptor = {
    mediaType: layerMediaType(compression, manifestMediaType), digest: `sha256:${compressed.hash.digest('hex')}`, size: compressed.size,
    ...(annotations ? { annotations } : {}),
  };
  return {
    descriptor,
    diffId: `sha256:${uncompressed.hash.digest('hex')}`,
    open: async () => {
      const t = rewrittenTar(() => layer.open(), plan, label);
      const c = compressor(compression);
      t.on('error', (e) => c.destroy(e));
      return verifying(t.pipe(c), descriptor, `${label} (rewritten)`);
    },
  };
}
