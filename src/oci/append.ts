// appendLayer: a generic image mutation (like go-containerregistry's
// mutate.Append): base image + one layer, its history entry, config labels and
// manifest annotations -> a new image in memory. Base layers keep their
// descriptors (never recompressed, still mountable); config and manifest are
// computed once, here; blobs are streamed on demand by the layers' openers.
import type { HistoryEntry, Image, ImageConfig, ImageManifest, Layer } from './model.ts';
import { sha256Digest } from './digest.ts';

export interface Addendum {
  layer: Layer;
  history: HistoryEntry;
  /** Set on the config's config.Labels (existing labels kept, these win). */
  labels?: Record<string, string>;
  /** Set on the manifest's annotations (existing kept, these win). */
  annotations?: Record<string, string>;
}

export async function appendLayer(base: Image, add: Addendum, name = `${base.name} + layer`): Promise<Image> {
  const baseManifest = await base.manifest();
  const mediaType = await base.mediaType();
  const rawCfg = await base.config(); // parsed and type-checked once, at the boundary, every field kept
  const newCfg: ImageConfig = {
    ...rawCfg,
    ...(add.labels ? { config: { ...(rawCfg.config ?? {}), Labels: { ...(rawCfg.config?.Labels ?? {}), ...add.labels } } } : {}),
    rootfs: { type: 'layers', diff_ids: [...rawCfg.rootfs.diff_ids, add.layer.diffId] },
    history: [...(rawCfg.history ?? []), add.history],
  };
  const rawConfig = Buffer.from(JSON.stringify(newCfg));
  const manifest: ImageManifest = {
    ...(JSON.parse((await base.rawManifest()).toString('utf8')) as ImageManifest),
    config: { ...baseManifest.config, digest: sha256Digest(rawConfig), size: rawConfig.length },
    layers: [...baseManifest.layers, add.layer.descriptor],
  };
  if (add.annotations) manifest.annotations = { ...(baseManifest.annotations ?? {}), ...add.annotations };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const layers = [...await base.layers(), add.layer];
  return {
    kind: 'image', name,
    manifest: async () => manifest, rawManifest: async () => rawManifest,
    mediaType: async () => mediaType, digest: async () => sha256Digest(rawManifest),
    // parsed again on demand: an index's wrapped children keep only their raw bytes (bounded memory)
    config: async () => JSON.parse(rawConfig.toString('utf8')) as ImageConfig, rawConfig: async () => rawConfig,
    layers: async () => layers,
  };
}
