// The unwrap operation, pure: an image built on a wrapped base -> the image a
// native build would give. The xbuild layer goes (with its diff_id and history
// entry), later layers lose every xbuild-owned path and get swapped shells
// back (layer-plan.ts), layers that need no change are reused as they are
// (same descriptors: a push mounts them), io.xbuild.* labels go, and the base
// annotations point at the base wrap started from.
import type { Descriptor, Image, ImageConfig, ImageIndex, ImageManifest, ImageOrIndex, Index, Layer } from '../oci/model.ts';
import { ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME, ANNOTATION_DOCKER_REFERENCE_TYPE } from '../oci/media-types.ts';
import { validateImageOrIndex } from '../oci/manifest.ts';
import { sha256Digest } from '../oci/digest.ts';
import { entryFor, indexOf } from '../oci/index-of.ts';
import { XbuildError, wrapError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { CROSS_BUILD_END, CROSS_BUILD_START } from '../contract/in-image.ts';
import { LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_XBUILD_VERSION, XBUILD_LABEL_PREFIX } from '../contract/owned.ts';
import { planLayer, scanLayer, type LayerPlan, type ScannedEntry } from './layer-plan.ts';
import { rewriteLayer } from './rewrite-layer.ts';

export const XBUILD_HISTORY_PREFIX = 'xbuild wrap (';

export interface UnwrappedEntry {
  platform: string;
  digest: string;
  inputDigest: string;
  action: 'unwrapped' | 'kept' | 'dropped';
  layers?: { reused: number; rewritten: number; dropped: number };
  /** Compressed layer bytes of the input minus those of the result. */
  bytesSaved?: number;
  /** Shells put back from their originals (cross-build mode ended). */
  restored?: string[];
}

export interface UnwrapResult { image: ImageOrIndex; digest: string; mediaType: string; entries: UnwrappedEntry[]; bytesSaved: number }

const platformOf = (c: ImageConfig) => `${c.os}/${c.architecture}${c.variant ? `/${c.variant}` : ''}`;

function neverWrapped(name: string): XbuildError {
  return new XbuildError('UNSUPPORTED', `${name} was never wrapped by xbuild (no ${LABEL_XBUILD_VERSION} label): there is nothing to unwrap`,
    { hint: 'unwrap the image built FROM a base made by `xbuild wrap`' });
}

/** Index of the xbuild layer from the history, or undefined when the history does not map onto the layers. */
export function xbuildLayerIndex(cfg: ImageConfig, layerCount: number): { layer: number; history: number } | undefined {
  const history = cfg.history ?? [];
  if (history.filter((h) => !h.empty_layer).length !== layerCount) return undefined;
  let layer = 0;
  for (const [i, h] of history.entries()) {
    if (h.created_by?.startsWith(XBUILD_HISTORY_PREFIX) && !h.empty_layer) return { layer, history: i };
    if (!h.empty_layer) layer++;
  }
  return undefined;
}

/** Directories of the xbuild layer that no base layer has (usr/lib/xbuild, and usr/lib in a busybox image). */
async function dirsOnlyInXbuildLayer(layers: Layer[], xbuild: number, xbuildScan: ScannedEntry[], name: string, onProgress: OnProgress): Promise<Set<string>> {
  const dirs = new Set(xbuildScan.filter((e) => e.type === 'directory').map((e) => e.path));
  for (let i = 0; i < xbuild && dirs.size > 0; i++) {
    const label = `base layer ${i + 1}/${layers.length} ${layers[i]!.descriptor.digest.slice(0, 19)}`;
    onProgress({ kind: 'step', message: `reading the names of ${label}` });
    const scan = await scanLayer(layers[i]!, label, { hash: false }).catch((e) => { throw wrapError(`reading ${label} of ${name}`, e); });
    for (const e of scan) dirs.delete(e.path);
  }
  return dirs;
}

export async function unwrapSingle(img: Image, onProgress: OnProgress = noProgress): Promise<{ image: Image; entry: UnwrappedEntry }> {
  const raw = JSON.parse((await img.rawConfig()).toString('utf8')) as ImageConfig;
  const labels = { ...((raw.config?.Labels ?? {}) as Record<string, string>) };
  if (!labels[LABEL_XBUILD_VERSION]) throw neverWrapped(img.name);
  const layers = await img.layers();
  const found = xbuildLayerIndex(raw, layers.length);
  const first = found ? found.layer : 0;
  const mediaType = await img.mediaType();
  // Scan the xbuild layer and everything above it: the shim's digests, then each layer's plan.
  const scans: ScannedEntry[][] = [];
  for (let i = first; i < layers.length; i++) {
    const label = `layer ${i + 1}/${layers.length} ${layers[i]!.descriptor.digest.slice(0, 19)}`;
    onProgress({ kind: 'step', message: `reading ${label}` });
    scans[i] = await scanLayer(layers[i]!, label).catch((e) => { throw wrapError(`reading ${label} of ${img.name}`, e); });
  }
  const shimDigests = new Set<string>();
  for (const s of scans) for (const e of s ?? []) if ((e.path === CROSS_BUILD_START || e.path === CROSS_BUILD_END) && e.digest) shimDigests.add(e.digest);
  const xbuildOnlyDirs = found ? await dirsOnlyInXbuildLayer(layers, found.layer, scans[found.layer]!, img.name, onProgress) : new Set<string>();
  const out: Layer[] = []; const diffIds: string[] = [];
  const counts = { reused: 0, rewritten: 0, dropped: 0 };
  const restored: string[] = [];
  for (const [i, layer] of layers.entries()) {
    if (found && i === found.layer) { counts.dropped++; continue; }
    let plan: LayerPlan | undefined;
    if (i >= first) plan = planLayer(scans[i]!, shimDigests, xbuildOnlyDirs);
    if (!plan?.changed) { out.push(layer); diffIds.push(layer.diffId); counts.reused++; continue; }
    const label = `layer ${i + 1}/${layers.length} ${layer.descriptor.digest.slice(0, 19)}`;
    onProgress({ kind: 'step', message: `rewriting ${label}: ${plan.dropped} xbuild entries out${plan.restored.length ? `, ${plan.restored.join(', ')} restored` : ''}` });
    const nl = await rewriteLayer(layer, plan, mediaType, label).catch((e) => { throw wrapError(`rewriting ${label} of ${img.name}`, e); });
    out.push(nl); diffIds.push(nl.diffId); counts.rewritten++;
    restored.push(...plan.restored);
  }
  const baseName = labels[LABEL_BASE_NAME]; const baseDigest = labels[LABEL_BASE_DIGEST];
  for (const k of Object.keys(labels)) if (k.startsWith(XBUILD_LABEL_PREFIX)) delete labels[k];
  const cfgBody = { ...(raw.config ?? {}) } as NonNullable<ImageConfig['config']>;
  if (Object.keys(labels).length) cfgBody.Labels = labels; else delete cfgBody.Labels;
  const newCfg: ImageConfig = {
    ...raw,
    config: cfgBody,
    rootfs: { type: 'layers', diff_ids: diffIds },
    ...(raw.history ? { history: found ? raw.history.filter((_, i) => i !== found.history) : raw.history } : {}),
  };
  const rawConfig = Buffer.from(JSON.stringify(newCfg));
  const m = JSON.parse((await img.rawManifest()).toString('utf8')) as ImageManifest;
  const manifest: ImageManifest = { ...m, config: { ...m.config, digest: sha256Digest(rawConfig), size: rawConfig.length }, layers: out.map((l) => l.descriptor) };
  const annotations = { ...(m.annotations ?? {}) };
  if (baseName && baseDigest) { annotations[ANNOTATION_BASE_NAME] = baseName; annotations[ANNOTATION_BASE_DIGEST] = baseDigest; }
  if (Object.keys(annotations).length) manifest.annotations = annotations; else delete manifest.annotations;
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const image: Image = {
    kind: 'image', name: `${img.name} unwrapped`,
    manifest: async () => manifest, rawManifest: async () => rawManifest,
    mediaType: async () => mediaType, digest: async () => sha256Digest(rawManifest),
    config: async () => newCfg, rawConfig: async () => rawConfig, layers: async () => out,
  };
  const size = (ls: Layer[]) => ls.reduce((n, l) => n + l.descriptor.size, 0);
  return {
    image,
    entry: {
      platform: platformOf(raw), digest: sha256Digest(rawManifest), inputDigest: await img.digest(), action: 'unwrapped',
      layers: counts, bytesSaved: size(layers) - size(out), restored,
    },
  };
}

async function unwrapIndex(idx: Index, onProgress: OnProgress): Promise<UnwrapResult> {
  const m = await idx.manifest();
  const raw = JSON.parse((await idx.rawManifest()).toString('utf8')) as ImageIndex & Record<string, unknown>;
  const children = new Map<string, ImageOrIndex>();
  const entries: UnwrappedEntry[] = [];
  const manifests: Descriptor[] = [];
  const replaced = new Set<string>();
  for (const d of m.manifests) {
    const child = await idx.child(d);
    if (child.kind === 'image' && d.annotations?.[ANNOTATION_DOCKER_REFERENCE_TYPE] === undefined) {
      const labels = (await child.config()).config?.Labels ?? {};
      if (labels && labels[LABEL_XBUILD_VERSION]) {
        const p = d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : d.digest;
        const r = await unwrapSingle(child, onProgress).catch((e) => { throw wrapError(`unwrapping ${p} of ${idx.name}`, e); });
        const nd = await entryFor(d, r.image);
        manifests.push(nd); children.set(nd.digest, r.image); entries.push(r.entry); replaced.add(d.digest);
        continue;
      }
    }
    manifests.push(d); children.set(d.digest, child);
    entries.push({ platform: d.platform ? `${d.platform.os}/${d.platform.architecture}` : 'unknown', digest: d.digest, inputDigest: d.digest, action: 'kept' });
  }
  if (replaced.size === 0) throw neverWrapped(idx.name);
  // Attestations describe the build of the wrapped image, not this one: they go with it.
  const kept = manifests.filter((d) => !replaced.has(d.annotations?.['vnd.docker.reference.digest'] ?? ''));
  for (const e of entries) if (e.action === 'kept' && !kept.some((d) => d.digest === e.digest)) e.action = 'dropped';
  const mediaType = await idx.mediaType();
  const { index: image, digest } = indexOf(`${idx.name} unwrapped`, { ...raw, manifests: kept }, mediaType, children);
  return { image, digest, mediaType, entries, bytesSaved: entries.reduce((n, e) => n + (e.bytesSaved ?? 0), 0) };
}

export async function unwrapImage(input: ImageOrIndex, opts: { onProgress?: OnProgress } = {}): Promise<UnwrapResult> {
  const onProgress = opts.onProgress ?? noProgress;
  let result: UnwrapResult;
  if (input.kind === 'image') {
    const r = await unwrapSingle(input, onProgress);
    result = { image: r.image, digest: r.entry.digest, mediaType: await r.image.mediaType(), entries: [r.entry], bytesSaved: r.entry.bytesSaved ?? 0 };
  } else {
    result = await unwrapIndex(input, onProgress);
  }
  await validateImageOrIndex(result.image).catch((e) => { throw wrapError('checking the unwrapped image', e); });
  return result;
}
