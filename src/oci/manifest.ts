// Parsing and validation of manifests, indexes and configs: structure checks
// on read, and a full consistency check of images xbuild writes.
import type { Descriptor, Image, ImageConfig, ImageIndex, ImageManifest, ImageOrIndex } from './model.ts';
import { XbuildError } from '../errors.ts';
import { ANNOTATION_DOCKER_REFERENCE_TYPE, DOCKER_CONFIG, isImageManifestMediaType, isIndexMediaType, OCI_IMAGE_CONFIG, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST } from './media-types.ts';
import { isSha256Digest, sha256Digest } from './digest.ts';
import { checkConfigTypes, checkPlatformObject, isObject, optString, optStringArray, optStringMap } from './schema.ts';

function invalid(what: string, msg: string): XbuildError {
  return new XbuildError('INVALID_IMAGE', `${what}: ${msg}`);
}

function parseJson(raw: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(raw.toString('utf8')); } catch { throw invalid(what, 'not valid JSON'); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(what, 'not a JSON object');
  return v as Record<string, unknown>;
}

export function checkDescriptor(d: unknown, what: string): Descriptor {
  if (!isObject(d)) throw invalid(what, 'descriptor is not an object');
  const desc = d as unknown as Descriptor;
  if (typeof desc.mediaType !== 'string' || desc.mediaType === '') throw invalid(what, 'descriptor has no mediaType');
  if (!isSha256Digest(desc.digest)) throw invalid(what, `descriptor digest "${String(desc.digest).slice(0, 80)}" is not a sha256 digest`);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw invalid(what, `descriptor size "${String(desc.size).slice(0, 40)}" is not a size`);
  optStringMap(d, 'annotations', what);
  optStringArray(d, 'urls', what, 'urls', false);
  optString(d, 'artifactType', what);
  if (d.platform !== undefined) checkPlatformObject(d.platform, what);
  return desc;
}

/** Media type of a manifest document: its mediaType field, else guessed from its shape. */
export function manifestMediaType(doc: Record<string, unknown>, declared?: string): string {
  const mt = (typeof doc.mediaType === 'string' && doc.mediaType) || declared;
  if (mt) return mt;
  if (Array.isArray(doc.manifests)) return OCI_IMAGE_INDEX;
  return OCI_IMAGE_MANIFEST;
}

export type ParsedManifest =
  | { kind: 'image'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; manifest: ImageIndex };

/** Parse manifest bytes into an image manifest or an index, checking the structure. */
export function parseManifest(raw: Buffer, what: string, declaredMediaType?: string): ParsedManifest {
  const doc = parseJson(raw, what);
  if (doc.schemaVersion !== 2) {
    throw new XbuildError('UNSUPPORTED', `${what}: manifest schemaVersion ${String(doc.schemaVersion)} is not supported (only schema 2 / OCI)`);
  }
  optString(doc, 'mediaType', what);
  const mediaType = manifestMediaType(doc, declaredMediaType);
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid(what, 'index has no manifests array');
    doc.manifests.forEach((m, i) => checkDescriptor(m, `${what} manifests[${i}]`));
    optStringMap(doc, 'annotations', what);
    return { kind: 'index', mediaType, manifest: doc as unknown as ImageIndex };
  }
  if (isImageManifestMediaType(mediaType) || (doc.config && Array.isArray(doc.layers))) {
    checkDescriptor(doc.config, `${what} config`);
    if (!Array.isArray(doc.layers)) throw invalid(what, 'manifest has no layers array');
    doc.layers.forEach((l, i) => checkDescriptor(l, `${what} layers[${i}]`));
    optStringMap(doc, 'annotations', what);
    optString(doc, 'artifactType', what);
    if (doc.subject !== undefined) checkDescriptor(doc.subject, `${what} subject`);
    return { kind: 'image', mediaType, manifest: doc as unknown as ImageManifest };
  }
  throw new XbuildError('UNSUPPORTED', `${what}: unsupported manifest media type ${mediaType}`);
}

export function parseConfig(raw: Buffer, what: string): ImageConfig {
  const doc = parseJson(raw, what);
  if (doc.architecture === undefined || doc.os === undefined) throw invalid(what, 'config has no os/architecture');
  checkConfigTypes(doc, what);
  const rootfs = doc.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) throw invalid(what, 'config has no rootfs.diff_ids');
  for (const d of rootfs.diff_ids) if (!isSha256Digest(d)) throw invalid(what, `diff_id "${String(d)}" is not a sha256 digest`);
  return doc as unknown as ImageConfig;
}

/** Is this index entry an attestation / non-runnable artifact (passed through untouched)? */
export function isAttestationOrUnknown(desc: Descriptor): boolean {
  if (desc.annotations?.[ANNOTATION_DOCKER_REFERENCE_TYPE]) return true;
  if (desc.artifactType !== undefined || !isImageManifestMediaType(desc.mediaType) && !isIndexMediaType(desc.mediaType)) return true;
  const p = desc.platform;
  if (!p) return true;
  return p.os === 'unknown' || p.architecture === 'unknown';
}

/**
 * Is this image manifest a runnable image (an image config), not an OCI 1.1
 * artifact (artifactType, the empty config, an SBOM's own config type)?
 */
export function isRunnableManifest(m: ImageManifest): boolean {
  return m.artifactType === undefined && (m.config.mediaType === OCI_IMAGE_CONFIG || m.config.mediaType === DOCKER_CONFIG);
}

/**
 * Full consistency check of an image: manifest digest over its raw bytes,
 * config digest/size, diff_ids count == layers count, non-empty history
 * entries == layers (when the history covers all layers).
 */
export async function validateImage(img: Image, expectedDigest?: string): Promise<void> {
  const what = `validating ${img.name}`;
  const raw = await img.rawManifest();
  const digest = sha256Digest(raw);
  if (expectedDigest && digest !== expectedDigest) throw invalid(what, `manifest digest ${digest} != ${expectedDigest}`);
  const parsed = parseManifest(raw, what);
  if (parsed.kind !== 'image') throw invalid(what, 'expected an image manifest, found an index');
  const m = parsed.manifest;
  const rawConfig = await img.rawConfig();
  if (sha256Digest(rawConfig) !== m.config.digest || rawConfig.length !== m.config.size) {
    throw invalid(what, `config blob does not match its descriptor ${m.config.digest}`);
  }
  const cfg = parseConfig(rawConfig, what);
  if (cfg.rootfs.diff_ids.length !== m.layers.length) {
    throw invalid(what, `${m.layers.length} layers but ${cfg.rootfs.diff_ids.length} diff_ids`);
  }
  const layers = await img.layers();
  if (layers.length !== m.layers.length) throw invalid(what, 'layer list does not match the manifest');
  layers.forEach((l, i) => {
    if (l.descriptor.digest !== m.layers[i]!.digest) throw invalid(what, `layer ${i} descriptor mismatch`);
    if (l.diffId !== cfg.rootfs.diff_ids[i]) throw invalid(what, `layer ${i} diff_id mismatch`);
  });
}

/** Validate an index and every child it references (recursively). */
export async function validateImageOrIndex(x: ImageOrIndex): Promise<void> {
  if (x.kind === 'image') { await validateImage(x); return; }
  const raw = await x.rawManifest();
  const parsed = parseManifest(raw, `validating ${x.name}`);
  if (parsed.kind !== 'index') throw invalid(`validating ${x.name}`, 'expected an index');
  for (const d of parsed.manifest.manifests) {
    const child = await x.child(d);
    if (sha256Digest(await child.rawManifest()) !== d.digest) throw invalid(`validating ${x.name}`, `child ${d.digest} does not match its bytes`);
    // attestations and artifacts carry other configs, not image configs: their bytes were checked above
    if (!isAttestationOrUnknown(d) && !(child.kind === 'image' && !isRunnableManifest(await child.manifest()))) await validateImageOrIndex(child);
  }
}
