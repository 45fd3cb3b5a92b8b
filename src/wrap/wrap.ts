// The wrap operation, pure: base image (or index) + the xbuild layer for each
// emulated platform -> new image (or index). Nothing here knows where images
// come from or go to, nor how emulators are found: the layer entries come
// from an injected LayerSource (the CLI composes the emulator cache and the
// shims). Base layers are reused as they are (same descriptors, never
// recompressed); exactly one layer and one history entry are added.
import { posix } from 'node:path';
import type { Descriptor, Image, ImageConfig, ImageIndex, ImageOrIndex, Index, Layer, Platform } from '../oci/model.ts';
import { appendLayer } from '../oci/append.ts';
import type { LayerEntry } from '../layer/entry.ts';
import { buildLayer } from '../layer/build.ts';
import { emulationFor, formatPlatform, matchPlatform, normalizePlatform } from '../oci/platform.ts';
import { ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME, gzipLayerMediaTypeFor, isIndexMediaType } from '../oci/media-types.ts';
import { isAttestationOrUnknown, isRunnableManifest, validateImageOrIndex } from '../oci/manifest.ts';
import { entryFor, indexOf } from '../oci/index-of.ts';
import { XbuildError, wrapError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import type { QemuArch } from '../oci/platform.ts';
import { CROSS_BUILD_END, CROSS_BUILD_START, emulatorFileName, emulatorInImage } from '../contract/in-image.ts';
import { startState } from './start-state.ts';
import { LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_QEMU_VERSION, LABEL_XBUILD_VERSION } from '../contract/owned.ts';

export { LABEL_BASE_DIGEST, LABEL_BASE_NAME, LABEL_QEMU_VERSION, LABEL_XBUILD_VERSION };


/** What goes into the added layer for one emulated architecture. */
export interface XbuildLayerSpec {
  entries: LayerEntry[];
  /** QEMU version of the emulator in `entries` (label io.xbuild.qemu.version). */
  qemuVersion: string;
}

/** Injected: the layer contents for a platform that needs emulator `qemuArch`. */
export type LayerSource = (qemuArch: QemuArch, platform: Platform) => Promise<XbuildLayerSpec>;

export interface WrapOptions {
  /** The base's normalised name (annotation org.opencontainers.image.base.name). */
  baseName: string;
  layerSource: LayerSource;
  /** Restrict to these platforms (index: keep and wrap only these; image: must match). */
  platforms?: Platform[];
  /** Host architecture in OCI naming; default amd64. */
  hostArch?: string;
  /** SOURCE_DATE_EPOCH in seconds (mtime of the added files, history `created`); default 0. */
  sourceDateEpoch?: number;
  xbuildVersion: string;
  /** Leave the image in cross-build mode (the state cross-build-start leaves, computed from the base). */
  start?: boolean;
  onProgress?: OnProgress;
}

export interface WrappedEntry { platform: string; digest: string; baseDigest: string; action: 'wrapped' | 'kept' }

export interface WrapResult {
  image: ImageOrIndex;
  digest: string;
  mediaType: string;
  entries: WrappedEntry[];
}

/** created_by of the added history entry: "xbuild wrap (qemu-arm-static, cross-build-start, cross-build-end)". */
export function historyCreatedBy(qemuArch: QemuArch, entries: LayerEntry[]): string {
  const paths = new Set(entries.map((e) => e.path));
  const parts = [emulatorInImage(qemuArch), CROSS_BUILD_START, CROSS_BUILD_END].filter((p) => paths.has(p)).map((p) => posix.basename(p));
  return `xbuild wrap (${parts.join(', ')})`;
}

export async function wrapImage(base: ImageOrIndex, opts: WrapOptions): Promise<WrapResult> {
  const ctx: Ctx = { opts, heldBytes: 0, layers: new Map(), onProgress: opts.onProgress ?? noProgress };
  const result = base.kind === 'image' ? await wrapSingle(base, ctx) : await wrapIndex(base, ctx);
  await validateImageOrIndex(result.image).catch((e) => { throw wrapError('checking the wrapped image', e); });
  return result;
}

/** Cap on the manifest + config bytes of all entries of one index (held in memory until written). */
export const MAX_INDEX_DOCUMENT_BYTES = 64 * 1024 * 1024;

interface Ctx {
  opts: WrapOptions;
  /** Manifest + config bytes of the index entries read so far. */
  heldBytes: number;
  /** One built layer per (emulator, media type): arm v5/v6/v7 entries share it. */
  layers: Map<string, Promise<{ layer: Layer; spec: XbuildLayerSpec }>>;
  onProgress: OnProgress;
}

function configPlatform(cfg: ImageConfig): Platform {
  return normalizePlatform({ os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) });
}

async function wrapSingle(base: Image, ctx: Ctx): Promise<WrapResult> {
  const cfg = await base.config();
  const platform = configPlatform(cfg);
  const want = ctx.opts.platforms;
  if (want && want.length && !want.some((w) => matchPlatform(w, platform))) {
    throw new XbuildError('NOT_FOUND', `${base.name} is a single ${formatPlatform(platform)} image, not ${want.map(formatPlatform).join(', ')}`);
  }
  const img = await appendXbuildLayer(base, ctx.opts.baseName, ctx);
  const digest = await img.digest();
  return { image: img, digest, mediaType: await img.mediaType(), entries: [{ platform: formatPlatform(platform), digest, baseDigest: await base.digest(), action: 'wrapped' }] };
}

async function wrapIndex(base: Index, ctx: Ctx): Promise<WrapResult> {
  const idx = await base.manifest();
  const raw = JSON.parse((await base.rawManifest()).toString('utf8')) as ImageIndex & Record<string, unknown>;
  const want = ctx.opts.platforms;
  const hostArch = ctx.opts.hostArch ?? 'amd64';
  const children = new Map<string, ImageOrIndex>();
  const newManifests: Descriptor[] = [];
  const entries: WrappedEntry[] = [];
  const runnable = idx.manifests.filter((d) => !isAttestationOrUnknown(d));
  if (want && want.length) {
    for (const w of want) {
      if (!runnable.some((d) => matchPlatform(w, d.platform!))) {
        throw new XbuildError('NOT_FOUND', `${base.name} has no ${formatPlatform(w)} image`, { hint: `it has: ${runnable.map((d) => formatPlatform(d.platform!)).join(', ')}` });
      }
    }
  }
  // Identical entries (same descriptor) are read and wrapped once.
  const done = new Map<string, Promise<{ nd: Descriptor; img: ImageOrIndex; action: WrappedEntry['action'] }>>();
  for (const d of idx.manifests) {
    const attest = isAttestationOrUnknown(d);
    const selected = want && want.length ? !attest && want.some((w) => matchPlatform(w, d.platform!)) : !attest && emulationFor(d.platform!, hostArch).kind === 'emulated';
    if (want && want.length && !selected) continue; // --platform keeps only what it names
    const key = JSON.stringify(d);
    let p = done.get(key);
    if (!p) { p = wrapEntry(base, d, selected, ctx); done.set(key, p); }
    const { nd, img, action } = await p;
    newManifests.push(nd);
    children.set(nd.digest, img);
    entries.push({ platform: attest ? 'attestation' : formatPlatform(d.platform!), digest: nd.digest, baseDigest: d.digest, action });
  }
  if (!entries.some((e) => e.action === 'wrapped')) {
    const plats = runnable.map((d) => formatPlatform(d.platform!)).join(', ') || 'no runnable platform';
    throw new XbuildError('UNSUPPORTED', `${base.name} has nothing to wrap: it holds ${plats}, none of which needs an emulator on this ${hostArch} host`, {
      hint: 'wrap an index or image for linux/arm/v5, v6, v7 or linux/arm64',
    });
  }
  const baseDigest = await base.digest();
  const out = { ...raw, manifests: newManifests, annotations: { ...(raw.annotations ?? {}), [ANNOTATION_BASE_NAME]: ctx.opts.baseName, [ANNOTATION_BASE_DIGEST]: baseDigest } };
  const mediaType = await base.mediaType();
  const { index, digest } = indexOf(`wrapped ${base.name}`, out, mediaType, children);
  if (!isIndexMediaType(mediaType)) throw new XbuildError('INVALID_IMAGE', `${base.name}: index has media type ${mediaType}`);
  return { image: index, digest, mediaType, entries };
}

/** One index entry: kept as it is (not selected, or an artifact), or wrapped. */
async function wrapEntry(base: Index, d: Descriptor, selected: boolean, ctx: Ctx): Promise<{ nd: Descriptor; img: ImageOrIndex; action: WrappedEntry['action'] }> {
  const child = await base.child(d);
  // Every child's manifest and config stay until the result is written: cap their total.
  ctx.heldBytes += (await child.rawManifest()).length + (child.kind === 'image' ? (await child.manifest()).config.size : 0);
  if (ctx.heldBytes > MAX_INDEX_DOCUMENT_BYTES) {
    throw new XbuildError('UNSUPPORTED', `${base.name}: the manifests and configs of its entries total more than ${MAX_INDEX_DOCUMENT_BYTES} bytes`, {
      hint: 'wrap fewer platforms at once with --platform',
    });
  }
  // An OCI 1.1 artifact (SBOM, signature) under a platform is carried byte for byte, never parsed as an image.
  if (!selected || (child.kind === 'image' && !isRunnableManifest(await child.manifest()))) return { nd: d, img: child, action: 'kept' };
  const plat = formatPlatform(d.platform!);
  if (child.kind !== 'image') throw new XbuildError('UNSUPPORTED', `${base.name}: nested index for ${plat} is not supported`);
  const img = await appendXbuildLayer(child, ctx.opts.baseName, ctx, d.platform).catch((e) => { throw wrapError(`wrapping ${plat} of ${base.name}`, e); });
  return { nd: await entryFor(d, img), img, action: 'wrapped' };
}

/** Refuse an index entry whose platform claim disagrees with the image's own config. */
function checkPlatformClaim(name: string, claimed: Platform, actual: Platform): void {
  const c = normalizePlatform(claimed);
  if (c.os === actual.os && c.architecture === actual.architecture && (c.variant ?? '') === (actual.variant ?? '')) return;
  throw new XbuildError('INVALID_IMAGE', `${name}: the index entry says ${formatPlatform(c)} but the image config says ${formatPlatform(actual)}`, {
    hint: 'the base index is inconsistent; wrap a corrected base or name the image by digest',
  });
}

/** base + the xbuild layer for its platform (appendLayer), refusing native platforms, already wrapped bases and platform claims its config contradicts. */
export async function appendXbuildLayer(base: Image, baseName: string, ctx: Ctx, claimed?: Platform): Promise<Image> {
  const cfg = await base.config();
  const platform = configPlatform(cfg);
  if (claimed) checkPlatformClaim(base.name, claimed, platform);
  const emu = emulationFor(platform, ctx.opts.hostArch ?? 'amd64');
  if (emu.kind === 'native') {
    throw new XbuildError('UNSUPPORTED', `${base.name} is ${formatPlatform(platform)}, which runs natively on this host: there is nothing to emulate`, {
      hint: 'wrap an ARM image (linux/arm/v5, v6, v7 or linux/arm64), e.g. arm32v7/debian or arm64v8/debian',
    });
  }
  if (emu.kind === 'unsupported') throw new XbuildError('UNSUPPORTED', `cannot wrap ${base.name}: ${emu.reason}`);
  const labels = (cfg.config?.Labels ?? {}) as Record<string, string>;
  if (labels[LABEL_XBUILD_VERSION]) {
    throw new XbuildError('UNSUPPORTED', `${base.name} is already wrapped by xbuild ${labels[LABEL_XBUILD_VERSION]}`, { hint: 'wrap the original base image instead' });
  }
  const layerMediaType = gzipLayerMediaTypeFor(await base.mediaType());
  const baseDigest = await base.digest();
  const key = `${emu.qemuArch} ${layerMediaType}${ctx.opts.start ? ` ${baseDigest}` : ''}`;
  let built = ctx.layers.get(key);
  if (!built) {
    built = (async () => {
      ctx.onProgress({ kind: 'step', message: `building the xbuild layer for ${formatPlatform(platform)} (${emulatorFileName(emu.qemuArch)})` });
      const spec = await ctx.opts.layerSource(emu.qemuArch, platform);
      let entries = spec.entries;
      if (ctx.opts.start) {
        const st = await startState(await base.layers(), emu.qemuArch, entries, ctx.opts.sourceDateEpoch ?? 0, base.name);
        ctx.onProgress({ kind: 'step', message: `cross-build mode on from the start: ${st.swapped.join(', ')} swapped` });
        entries = st.entries;
      }
      const layer = await buildLayer(entries, { sourceDateEpoch: ctx.opts.sourceDateEpoch, mediaType: layerMediaType });
      return { layer, spec };
    })();
    ctx.layers.set(key, built);
  }
  const { layer, spec } = await built;
  const created = new Date((ctx.opts.sourceDateEpoch ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
  return appendLayer(base, {
    layer,
    history: { created, created_by: `${historyCreatedBy(emu.qemuArch, spec.entries)}${ctx.opts.start ? ' --start' : ''}`, comment: `xbuild ${ctx.opts.xbuildVersion}` },
    labels: { [LABEL_XBUILD_VERSION]: ctx.opts.xbuildVersion, [LABEL_QEMU_VERSION]: spec.qemuVersion, [LABEL_BASE_NAME]: baseName, [LABEL_BASE_DIGEST]: baseDigest },
    annotations: { [ANNOTATION_BASE_NAME]: baseName, [ANNOTATION_BASE_DIGEST]: baseDigest },
  }, `${base.name} + xbuild`);
}
