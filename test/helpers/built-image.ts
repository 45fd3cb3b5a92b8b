// Simulates a builder: layers (generated tars) and history entries appended to
// an image, labels and history inherited, as docker/buildah/BuildKit do.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { HistoryEntry, Image, ImageConfig, ImageManifest, Layer } from '../../src/oci/model.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BuildStep { createdBy: string; tar?: Buffer }

export async function buildOn(base: Image, steps: BuildStep[], name = 'built'): Promise<Image> {
  const baseCfg = JSON.parse((await base.rawConfig()).toString()) as ImageConfig;
  const layers: Layer[] = [...await base.layers()];
  const history: HistoryEntry[] = [...(baseCfg.history ?? [])];
  for (const s of steps) {
    history.push({ created: '2026-01-01T00:00:00Z', created_by: s.createdBy, ...(s.tar ? {} : { empty_layer: true }) });
    if (!s.tar) continue;
    const blob = gzipSync(s.tar);
    layers.push({
      descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(blob), size: blob.length },
      diffId: sha(s.tar), open: async () => Readable.from([blob]),
    });
  }
  const config: ImageConfig = { ...baseCfg, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, history };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const bm = await base.manifest();
  const manifest: ImageManifest = {
    schemaVersion: 2, mediaType: bm.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: bm.config.mediaType, digest: sha(rawConfig), size: rawConfig.length }, layers: layers.map((l) => l.descriptor),
  };
  const raw = Buffer.from(JSON.stringify(manifest));
  return {
    kind: 'image', name, manifest: async () => manifest, rawManifest: async () => raw, mediaType: async () => manifest.mediaType!,
    digest: async () => sha(raw), config: async () => config, rawConfig: async () => rawConfig, layers: async () => layers,
  };
}

/** A base image with history (one entry per layer), like a registry's. */
export async function withHistory(img: Image): Promise<Image> {
  const cfg = JSON.parse((await img.rawConfig()).toString()) as ImageConfig;
  const layers = await img.layers();
  const history: HistoryEntry[] = layers.map((_, i) => ({ created: '2025-01-01T00:00:00Z', created_by: `base step ${i + 1}` }));
  const config: ImageConfig = { ...cfg, history };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const m = await img.manifest();
  const manifest: ImageManifest = { ...m, config: { ...m.config, digest: sha(rawConfig), size: rawConfig.length } };
  const raw = Buffer.from(JSON.stringify(manifest));
  return { ...img, manifest: async () => manifest, rawManifest: async () => raw, digest: async () => sha(raw), config: async () => config, rawConfig: async () => rawConfig };
}
