// `xbuild verify` as a library: an Image or Index in, a report of every
// finding out (schema: docs/verify-json-schema.md). Reads each layer once.
import { XbuildError, wrapError } from '../errors.ts';
import type { CaptureLimits } from '../elf/bytes.ts';
import type { Image, ImageOrIndex, Index, Platform } from '../oci/model.ts';
import { isAttestationOrUnknown } from '../oci/manifest.ts';
import { ANNOTATION_DOCKER_REFERENCE_TYPE, isIndexMediaType } from '../oci/media-types.ts';
import { formatPlatform, matchPlatform, normalizePlatform, platformString } from '../oci/platform.ts';
import type { OnProgress } from '../progress.ts';
import { collectImageView, readResolved } from './collect.ts';
import { finding, type Finding } from './findings.ts';
import { checkView, pathsToRead, type Checked, type RuleOptions } from './rules.ts';
import { checkFinal } from './final.ts';
import { isRunnableManifest } from '../oci/manifest.ts';

export const VERIFY_SCHEMA_VERSION = 1;

export interface VerifyOptions extends RuleOptions {
  /** For an index, verify only this entry; for an image, require this platform (parsePlatform of src/oci/platform.ts). */
  platform?: Platform;
  onProgress?: OnProgress;
  limits?: CaptureLimits;
  /** The platform the index entry that led to this image claims (set by verifyIndex): must equal the config's. */
  indexPlatform?: Platform;
}

export interface PlatformReport {
  platform: string;
  digest: string;
  passed: boolean;
  counts: { error: number; warning: number; info: number };
  findings: Finding[];
  checked: Checked & { layers: number; entries: number; bytes: number };
}

export interface VerifyReport {
  schemaVersion: typeof VERIFY_SCHEMA_VERSION;
  image: string;
  kind: 'image' | 'index';
  digest: string;
  passed: boolean;
  platforms: PlatformReport[];
  /** Index entries not verified (attestations, not selected by --platform). */
  skipped: { digest: string; platform?: string; reason: string }[];
}

export async function verifyImage(image: Image, opts: VerifyOptions = {}): Promise<PlatformReport> {
  const config = await image.config();
  const platform = platformString(config);
  if (opts.platform && !matchPlatform(opts.platform, config)) {
    throw new XbuildError('NOT_FOUND', `${image.name} is ${platform}, not ${formatPlatform(opts.platform)}`, { hint: `run without --platform, or with --platform ${platform}` });
  }
  const [digest, layers] = await Promise.all([image.digest(), image.layers()]);
  opts.onProgress?.({ kind: 'step', message: `verifying ${image.name} (${platform}, ${layers.length} layers)` });
  const collected = await collectImageView(layers, { onProgress: opts.onProgress, limits: opts.limits });
  // files the rules need that links (added by any layer) lead outside the kept paths: read them again
  for (let round = 0; round < 4; round++) {
    if (await readResolved(collected.view, layers, pathsToRead(collected.view, config), { limits: opts.limits }) === 0) break;
  }
  const { findings, checked } = checkView(collected.view, config, opts);
  if (opts.indexPlatform) {
    // the runtime picks the entry by the index's platform and then runs what the config (and the ELF files) say
    const a = normalizePlatform(opts.indexPlatform); const b = normalizePlatform(config);
    if (a.os !== b.os || a.architecture !== b.architecture || a.variant !== b.variant) {
      findings.push(finding('platform-index-mismatch', undefined, `the index entry claims ${platformString(opts.indexPlatform)}, but the image config says ${platform}`,
        'rebuild the index (docker buildx imagetools create / skopeo) so each entry\'s platform is its image\'s config platform'));
    }
  }
  const all = [...collected.findings, ...findings, ...(opts.final ? checkFinal(collected, config) : [])];
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of all) counts[f.severity]++;
  return {
    platform, digest, passed: counts.error === 0, counts, findings: all,
    checked: { ...checked, layers: layers.length, entries: collected.entries, bytes: collected.bytes },
  };
}

/** How deep nested indexes are followed (runtimes resolve an index entry that is itself an index). */
const MAX_INDEX_DEPTH = 4;

export async function verifyIndex(index: Index, opts: VerifyOptions = {}, depth = 0): Promise<VerifyReport> {
  const manifest = await index.manifest();
  const digest = await index.digest();
  const platforms: PlatformReport[] = [];
  const skipped: VerifyReport['skipped'] = [];
  for (const d of manifest.manifests) {
    const p = d.platform ? platformString(d.platform) : undefined;
    const nestedIndex = isIndexMediaType(d.mediaType) && !d.annotations?.[ANNOTATION_DOCKER_REFERENCE_TYPE];
    if (!nestedIndex && isAttestationOrUnknown(d)) { skipped.push({ digest: d.digest, platform: p, reason: 'attestation manifest' }); continue; }
    if (opts.platform && d.platform && !matchPlatform(opts.platform, d.platform)) {
      skipped.push({ digest: d.digest, platform: p, reason: `not selected by --platform ${formatPlatform(opts.platform)}` });
      continue;
    }
    let child: ImageOrIndex;
    try {
      child = await index.child(d);
    } catch (err) {
      throw wrapError(`opening ${index.name} entry ${p ?? d.digest}`, err);
    }
    if (child.kind === 'index') {
      if (depth + 1 >= MAX_INDEX_DEPTH) { skipped.push({ digest: d.digest, platform: p, reason: `index nested deeper than ${MAX_INDEX_DEPTH}` }); continue; }
      try {
        const nested = await verifyIndex(child, opts, depth + 1);
        platforms.push(...nested.platforms); skipped.push(...nested.skipped);
      } catch (err) {
        if (err instanceof XbuildError && err.code === 'NOT_FOUND') { skipped.push({ digest: d.digest, platform: p, reason: 'nested index without a matching image' }); continue; }
        throw err;
      }
      continue;
    }
    if (!isRunnableManifest(await child.manifest())) { skipped.push({ digest: d.digest, platform: p, reason: 'artifact, not an image' }); continue; }
    try {
      platforms.push(await verifyImage(child, { ...opts, platform: undefined, ...(d.platform ? { indexPlatform: d.platform } : {}) }));
    } catch (err) {
      throw wrapError(`verifying ${index.name} for ${p ?? d.digest}`, err);
    }
  }
  if (platforms.length === 0) {
    const have = manifest.manifests.filter((d) => !isAttestationOrUnknown(d)).map((d) => platformString(d.platform!)).join(', ');
    throw new XbuildError('NOT_FOUND', `${index.name} has no image${opts.platform ? ` for ${formatPlatform(opts.platform)}` : ''} to verify (platforms: ${have || 'none'})`,
      { hint: have ? `pick one with --platform ${have.split(', ')[0]}` : undefined });
  }
  return { schemaVersion: VERIFY_SCHEMA_VERSION, image: index.name, kind: 'index', digest, passed: platforms.every((p) => p.passed), platforms, skipped };
}

/** Verify whatever openImage returned. */
export async function verify(target: ImageOrIndex, opts: VerifyOptions = {}): Promise<VerifyReport> {
  if (target.kind === 'index') return verifyIndex(target, opts);
  const report = await verifyImage(target, opts);
  return { schemaVersion: VERIFY_SCHEMA_VERSION, image: target.name, kind: 'image', digest: report.digest, passed: report.passed, platforms: [report], skipped: [] };
}
