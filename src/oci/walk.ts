// Enumerate every blob an image or index needs, children before parents, so
// writers can store blobs first and manifests (the things that name them) last.
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { Descriptor, ImageOrIndex, Layer } from './model.ts';
import { sha256Digest } from './digest.ts';

export interface BlobToWrite {
  desc: Descriptor;
  open: () => Promise<Readable>;
  /** Set for layers: where a registry could mount it from. */
  source?: Layer['source'];
  kind: 'layer' | 'config' | 'manifest';
}

/** Blobs of `root` in write order (layers, config, child manifests, root manifest last), deduplicated. */
export async function collectBlobs(root: ImageOrIndex): Promise<BlobToWrite[]> {
  const out = new Map<string, BlobToWrite>();
  await walk(root, out);
  return [...out.values()];
}

const fromBuffer = (b: Buffer) => async (): Promise<Readable> => ReadableStream.from([b]);

async function walk(x: ImageOrIndex, out: Map<string, BlobToWrite>): Promise<void> {
  if (x.kind === 'index') {
    const m = await x.manifest();
    for (const d of m.manifests) await walk(await x.child(d), out);
  } else {
    for (const l of await x.layers()) {
      if (!out.has(l.descriptor.digest)) {
        out.set(l.descriptor.digest, { desc: l.descriptor, open: () => l.open(), kind: 'layer', ...(l.source ? { source: l.source } : {}) });
      }
    }
    const m = await x.manifest();
    const cfg = await x.rawConfig();
    out.set(m.config.digest, { desc: m.config, open: fromBuffer(cfg), kind: 'config' });
  }
  const raw = await x.rawManifest();
  const digest = sha256Digest(raw);
  out.set(digest, { desc: { mediaType: await x.mediaType(), digest, size: raw.length }, open: fromBuffer(raw), kind: 'manifest' });
}

/** The descriptor an index entry / index.json entry uses for `x`. */
export async function descriptorOf(x: ImageOrIndex): Promise<Descriptor> {
  const raw = await x.rawManifest();
  return { mediaType: await x.mediaType(), digest: sha256Digest(raw), size: raw.length };
}
