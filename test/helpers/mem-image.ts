// In-memory implementations of the image model (src/oci/model.ts) made from
// real tar layers generated with tar-stream: verify reads them through the
// same Layer.open() stream path as registry / oci: images.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import type { Descriptor, Image, ImageConfig, ImageIndex, ImageManifest, Index, Layer, Platform } from '../../src/oci/model.ts';

export interface TarSpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  mode?: number;
  content?: Buffer | string;
  linkname?: string;
}

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tar (uncompressed) with the entries in the given order, uid/gid 0, mtime 0. */
export async function tarOf(entries: TarSpec[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { p.on('end', resolve); p.on('error', reject); });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: e.linkname, mtime: new Date(0), uid: 0, gid: 0, size: type === 'file' ? content?.length ?? 0 : 0 };
      if (type === 'file') p.entry(header, content ?? Buffer.alloc(0), cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface MemLayer { tar: Buffer; gzip?: boolean }

export function memImage(name: string, platform: { architecture: string; variant?: string; os?: string }, layers: MemLayer[]): Image {
  const blobs = layers.map((l) => (l.gzip === false ? l.tar : gzipSync(l.tar)));
  const layerObjs: Layer[] = layers.map((l, i) => ({
    descriptor: { mediaType: l.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(blobs[i]!), size: blobs[i]!.length },
    diffId: sha(l.tar),
    open: async () => Readable.from([blobs[i]!]),
  }));
  const config: ImageConfig = {
    architecture: platform.architecture, os: platform.os ?? 'linux', ...(platform.variant ? { variant: platform.variant } : {}),
    rootfs: { type: 'layers', diff_ids: layerObjs.map((l) => l.diffId) },
  };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(rawConfig), size: rawConfig.length },
    layers: layerObjs.map((l) => l.descriptor),
  };
  const raw = Buffer.from(JSON.stringify(manifest));
  return {
    kind: 'image', name,
    manifest: async () => manifest, rawManifest: async () => raw, mediaType: async () => manifest.mediaType!,
    digest: async () => sha(raw), config: async () => config, rawConfig: async () => rawConfig, layers: async () => layerObjs,
  };
}

export async function memIndex(name: string, images: Image[], extra: Descriptor[] = []): Promise<Index> {
  const descs: Descriptor[] = [];
  const byDigest = new Map<string, Image>();
  for (const img of images) {
    const c = await img.config();
    const raw = await img.rawManifest();
    const platform: Platform = { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) };
    const d: Descriptor = { mediaType: await img.mediaType(), digest: await img.digest(), size: raw.length, platform };
    descs.push(d);
    byDigest.set(d.digest, img);
  }
  const manifest: ImageIndex = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [...descs, ...extra] };
  const raw = Buffer.from(JSON.stringify(manifest));
  return {
    kind: 'index', name,
    manifest: async () => manifest, rawManifest: async () => raw, mediaType: async () => manifest.mediaType!, digest: async () => sha(raw),
    child: async (d) => {
      const img = byDigest.get(d.digest);
      if (!img) throw new Error(`no child ${d.digest}`);
      return img;
    },
  };
}
