// --platform for unwrap: an index keeps only the listed platforms (as wrap
// does); a single image must be one of them.
import type { Descriptor, ImageIndex, ImageOrIndex, Index, Platform } from '../oci/model.ts';
import { formatPlatform, matchPlatform, normalizePlatform } from '../oci/platform.ts';
import { sha256Digest } from '../oci/digest.ts';
import { XbuildError } from '../errors.ts';

export async function selectPlatforms(input: ImageOrIndex, want: Platform[]): Promise<ImageOrIndex> {
  const names = want.map(formatPlatform).join(', ');
  if (input.kind === 'image') {
    const c = await input.config();
    const p = normalizePlatform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });
    if (!want.some((w) => matchPlatform(w, p))) throw new XbuildError('NOT_FOUND', `${input.name} is a single ${formatPlatform(p)} image, not ${names}`);
    return input;
  }
  const m = await input.manifest();
  const runnable = m.manifests.filter((d) => d.platform && d.platform.os !== 'unknown');
  for (const w of want) {
    if (!runnable.some((d) => matchPlatform(w, d.platform!))) {
      throw new XbuildError('NOT_FOUND', `${input.name} has no ${formatPlatform(w)} image`, { hint: `it has: ${runnable.map((d) => formatPlatform(d.platform!)).join(', ')}` });
    }
  }
  const kept: Descriptor[] = runnable.filter((d) => want.some((w) => matchPlatform(w, d.platform!)));
  const raw = JSON.parse((await input.rawManifest()).toString('utf8')) as ImageIndex;
  const out = { ...raw, manifests: kept };
  const rawOut = Buffer.from(JSON.stringify(out));
  const parent = input;
  const index: Index = {
    kind: 'index', name: input.name,
    manifest: async () => out, rawManifest: async () => rawOut, mediaType: () => parent.mediaType(),
    digest: async () => sha256Digest(rawOut), child: (d) => parent.child(d),
  };
  return index;
}
