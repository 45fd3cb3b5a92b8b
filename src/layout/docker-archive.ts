// docker-archive: the tarball `docker save` writes and `docker load` reads
// (manifest.json + config + layer files). Reading keeps every layer exactly
// as stored (often uncompressed tar); writing stores blobs under
// blobs/sha256/<hex> as Docker 25+ does (older engines read manifest.json only).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Descriptor, Image, ImageConfig, ImageManifest, Layer } from '../oci/model.ts';
import {
  DOCKER_CONFIG, DOCKER_LAYER_TAR, DOCKER_LAYER_TAR_GZIP, DOCKER_MANIFEST_V2, OCI_IMAGE_CONFIG, OCI_IMAGE_MANIFEST, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP, OCI_LAYER_TAR_ZSTD,
} from '../oci/media-types.ts';
import { parseConfig } from '../oci/manifest.ts';
import { parseArchiveManifest, type ArchiveManifestEntry } from '../oci/schema.ts';
import { XbuildError, wrapError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { readAll, sha256Digest, verifying } from '../oci/digest.ts';
import { formatReference, parseRegistryReference } from '../oci/reference.ts';
import { indexTar, resolveMember, type TarMember } from './tar-index.ts';


function rangeStream(file: string, m: TarMember): Readable {
  return m.size === 0 ? Readable.from([]) : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1 });
}

async function firstBytes(file: string, m: TarMember): Promise<Buffer> {
  if (m.size < 4) return Buffer.alloc(0);
  return readAll(createReadStream(file, { start: m.offset, end: m.offset + 3 }));
}

async function hashMember(file: string, m: TarMember): Promise<string> {
  const h = createHash('sha256');
  for await (const c of rangeStream(file, m)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Open `docker-archive:FILE[:REF]` as an Image (REF picks among several images by RepoTags). */
export async function readDockerArchive(file: string, ref?: string): Promise<Image> {
  const name = `docker-archive:${file}${ref ? `:${ref}` : ''}`;
  const members = await indexTar(file);
  const mm = resolveMember(members, 'manifest.json');
  if (!mm) throw new XbuildError('INVALID_IMAGE', `${file} is not a docker-archive (no manifest.json)`, { hint: 'docker-archive:FILE names a tarball written by `docker save`' });
  const entries = parseArchiveManifest(await readAll(rangeStream(file, mm)), `${file}: manifest.json`);
  let entry: ArchiveManifestEntry | undefined;
  if (ref) {
    const want = canonicalTag(ref);
    entry = entries.find((e) => (e.RepoTags ?? []).some((t) => canonicalTag(t) === want));
    if (!entry) throw new XbuildError('NOT_FOUND', `no image tagged "${ref}" in ${file}`, { hint: `tags there: ${entries.flatMap((e) => e.RepoTags ?? []).join(', ') || '(none)'}` });
  } else {
    if (entries.length > 1) throw new XbuildError('USAGE', `${file} holds ${entries.length} images; name one`, { hint: `use docker-archive:${file}:NAME:TAG with one of: ${entries.flatMap((e) => e.RepoTags ?? []).join(', ')}` });
    entry = entries[0]!;
  }
  const cm = resolveMember(members, entry.Config);
  if (!cm) throw new XbuildError('INVALID_IMAGE', `${file}: config ${entry.Config} is missing`);
  const rawConfig = await readAll(rangeStream(file, cm));
  const config = parseConfig(rawConfig, `config of ${name}`);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) {
    throw new XbuildError('INVALID_IMAGE', `${file}: ${entry.Layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
  }
  // Layers are kept as stored: uncompressed tar (classic docker save), gzip or
  // zstd (told by their first bytes). Docker v2 manifests have no zstd layer
  // type, so an archive holding zstd layers is described with an OCI manifest.
  const layerDescs: Descriptor[] = [];
  const layerMembers: TarMember[] = [];
  const kinds: ('tar' | 'gzip' | 'zstd')[] = [];
  for (const p of entry.Layers) {
    const lm = resolveMember(members, p);
    if (!lm) throw new XbuildError('INVALID_IMAGE', `${file}: layer ${p} is missing`);
    const magic = await firstBytes(file, lm);
    kinds.push(magic[0] === 0x1f && magic[1] === 0x8b ? 'gzip' : magic.length === 4 && magic.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'tar');
    const fromName = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(lm.name);
    const digest = fromName ? `sha256:${fromName[1]}` : await hashMember(file, lm);
    layerDescs.push({ mediaType: '', digest, size: lm.size });
    layerMembers.push(lm);
  }
  const oci = kinds.includes('zstd');
  const types = oci ? { tar: OCI_LAYER_TAR, gzip: OCI_LAYER_TAR_GZIP, zstd: OCI_LAYER_TAR_ZSTD } : { tar: DOCKER_LAYER_TAR, gzip: DOCKER_LAYER_TAR_GZIP, zstd: '' };
  kinds.forEach((k, i) => { layerDescs[i]!.mediaType = types[k]; });
  const manifestMediaType = oci ? OCI_IMAGE_MANIFEST : DOCKER_MANIFEST_V2;
  const manifest: ImageManifest = {
    schemaVersion: 2, mediaType: manifestMediaType,
    config: { mediaType: oci ? OCI_IMAGE_CONFIG : DOCKER_CONFIG, digest: sha256Digest(rawConfig), size: rawConfig.length },
    layers: layerDescs,
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const layers: Layer[] = layerDescs.map((d, i) => ({
    descriptor: d, diffId: config.rootfs.diff_ids[i]!,
    open: async () => verifying(rangeStream(file, layerMembers[i]!), d, `layer ${entry!.Layers[i]} in ${file}`),
  }));
  return {
    kind: 'image', name,
    manifest: async () => manifest, rawManifest: async () => rawManifest,
    mediaType: async () => manifestMediaType, digest: async () => sha256Digest(rawManifest),
    config: async (): Promise<ImageConfig> => config, rawConfig: async () => rawConfig,
    layers: async () => layers,
  };
}

/** RepoTags spellings differ (debian:latest, docker.io/library/debian:latest): compare canonical forms. */
function canonicalTag(t: string): string {
  try { return formatReference(parseRegistryReference(t)); } catch { return t; }
}

function blobName(digest: string): string { return `blobs/sha256/${digest.slice(7)}`; }

async function addEntry(pack: tar.Pack, name: string, size: number, body: Readable | Buffer, onData?: (n: number) => void): Promise<void> {
  const header = { name, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: 'file' as const };
  if (Buffer.isBuffer(body)) {
    await new Promise<void>((res, rej) => pack.entry(header, body, (err) => (err ? rej(err) : res())));
    return;
  }
  await new Promise<void>((res, rej) => {
    const w = pack.entry(header, (err) => (err ? rej(err) : res()));
    w.on('error', () => {}); // the source's error is what we report (rej below)
    body.on('error', (e) => { rej(e); w.destroy(); });
    if (onData) body.on('data', (c: Buffer) => onData(c.length));
    body.pipe(w);
  });
}

/**
 * Write `img` as a docker-archive tarball at `file` (temp file + rename), tagged `repoTags`.
 * Layers are stored as they are (gzip layers stay gzip: `docker load` decompresses them).
 */
export async function writeDockerArchive(file: string, img: Image, opts: { repoTags?: string[]; onProgress?: OnProgress } = {}): Promise<{ digest: string }> {
  const onProgress = opts.onProgress ?? noProgress;
  const tmp = `${file}.xbuild-tmp-${randomBytes(6).toString('hex')}`;
  const pack = tar.pack();
  const out = pipeline(pack, createWriteStream(tmp));
  out.catch(() => {});
  try {
    const m = await img.manifest();
    const rawConfig = await img.rawConfig();
    const layers = await img.layers();
    const seen = new Set<string>();
    for (const l of layers) {
      const d = l.descriptor;
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      const label = d.digest.slice(7, 19);
      let done = 0;
      await addEntry(pack, blobName(d.digest), d.size, await l.open(), (n) => {
        done += n; onProgress({ kind: 'bytes', id: d.digest, label, done, total: d.size });
      });
      onProgress({ kind: 'done', id: d.digest, label, note: 'Written' });
    }
    await addEntry(pack, blobName(m.config.digest), rawConfig.length, rawConfig);
    const entries: ArchiveManifestEntry[] = [{
      Config: blobName(m.config.digest),
      RepoTags: opts.repoTags && opts.repoTags.length ? opts.repoTags : null,
      Layers: m.layers.map((l) => blobName(l.digest)),
    }];
    await addEntry(pack, 'manifest.json', Buffer.byteLength(JSON.stringify(entries)), Buffer.from(JSON.stringify(entries)));
    pack.finalize();
    await out;
    await rename(tmp, file);
    return { digest: await img.digest() };
  } catch (e) {
    pack.destroy();
    await out.catch(() => {});
    await rm(tmp, { force: true });
    throw wrapError(`writing the docker-archive ${file}`, e);
  }
}
