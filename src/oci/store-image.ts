// Image / Index model over any content-addressed blob store (an OCI layout
// directory; the wrap result in memory). Everything is read lazily, once.
import type { Readable } from 'node:stream';
import type { Descriptor, Image, ImageConfig, ImageManifest, ImageIndex, Index, Layer, ImageOrIndex } from './model.ts';
import { isRunnableManifest, parseConfig, parseManifest } from './manifest.ts';
import { readAll, verifyBuffer } from './digest.ts';
import { XbuildError } from '../errors.ts';

export interface BlobStore {
  /** A fresh stream of the blob, verified against digest and size at EOF. */
  open(desc: Descriptor): Promise<Readable>;
  /** Manifest bytes by descriptor when manifests are not plain blobs (registries); verified by the caller. */
  manifest?(desc: Descriptor): Promise<Buffer>;
  /** Where layers of this store can be mounted from (registry stores only). */
  source?: { registry: string; repository: string };
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

export async function readSmallBlob(store: BlobStore, desc: Descriptor, what: string): Promise<Buffer> {
  const buf = await readAll(await store.open(desc));
  verifyBuffer(desc, buf, what);
  return buf;
}

/** Open the manifest `desc` points to in `store` as an Image or Index. */
export async function openFromStore(store: BlobStore, desc: Descriptor, name: string): Promise<ImageOrIndex> {
  const what = `manifest ${desc.digest} of ${name}`;
  let raw: Buffer;
  if (store.manifest) { raw = await store.manifest(desc); verifyBuffer(desc, raw, what); } else raw = await readSmallBlob(store, desc, what);
  return fromManifestBytes(store, raw, desc.digest, name, desc.mediaType);
}

export function fromManifestBytes(store: BlobStore, raw: Buffer, digest: string, name: string, declared?: string): ImageOrIndex {
  const parsed = parseManifest(raw, `manifest of ${name}`, declared);
  if (parsed.kind === 'index') return indexFromStore(store, raw, digest, parsed.mediaType, parsed.manifest, name);
  return imageFromStore(store, raw, digest, parsed.mediaType, parsed.manifest, name);
}

function indexFromStore(store: BlobStore, raw: Buffer, digest: string, mediaType: string, m: ImageIndex, name: string): Index {
  return {
    kind: 'index', name,
    manifest: async () => m,
    rawManifest: async () => raw,
    mediaType: async () => mediaType,
    digest: async () => digest,
    child: async (d) => {
      if (!m.manifests.some((x) => x.digest === d.digest)) {
        throw new XbuildError('NOT_FOUND', `${name}: ${d.digest} is not an entry of this index`);
      }
      return openFromStore(store, d, `${name}@${d.digest}`);
    },
  };
}

/**
 * A layer of `store`. Built outside imageFromStore on purpose: a closure made
 * there would keep that scope (the raw and parsed config) alive as long as
 * any layer is referenced (a wrapped image keeps its base layers).
 */
function storeLayer(store: BlobStore, d: Descriptor, diffId: string): Layer {
  return { descriptor: d, diffId, open: () => store.open(d), ...(store.source ? { source: store.source } : {}) };
}

function imageFromStore(store: BlobStore, raw: Buffer, digest: string, mediaType: string, m: ImageManifest, name: string): Image {
  const rawConfig = once(() => readSmallBlob(store, m.config, `config of ${name}`));
  const runnable = isRunnableManifest(m);
  const config = once(async (): Promise<ImageConfig> => {
    if (!runnable) throw new XbuildError('UNSUPPORTED', `${name} is an artifact (${m.artifactType ?? m.config.mediaType}), not a runnable image`);
    return parseConfig(await rawConfig(), `config of ${name}`);
  });
  const layers = once(async (): Promise<Layer[]> => {
    // An artifact's blobs are carried byte for byte; it has no diff_ids.
    if (!runnable) return m.layers.map((d) => storeLayer(store, d, ''));
    const cfg = await config();
    if (cfg.rootfs.diff_ids.length !== m.layers.length) {
      throw new XbuildError('INVALID_IMAGE', `${name}: manifest lists ${m.layers.length} layers but the config ${cfg.rootfs.diff_ids.length} diff_ids`);
    }
    return m.layers.map((d, i) => storeLayer(store, d, cfg.rootfs.diff_ids[i]!));
  });
  return {
    kind: 'image', name,
    manifest: async () => m,
    rawManifest: async () => raw,
    mediaType: async () => mediaType,
    digest: async () => digest,
    config, rawConfig, layers,
  };
}
