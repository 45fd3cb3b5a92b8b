// An index made by an operation (wrap, unwrap): the new index document,
// serialised once, whose entries resolve to the images the operation made or
// kept. Like ggcr's mutate.IndexAddendum result: digest over the exact bytes
// written, children looked up by digest.
import { sha256Digest } from './digest.ts';
import { XbuildError } from '../errors.ts';
import type { Descriptor, ImageIndex, ImageOrIndex, Index } from './model.ts';

/** `doc` as an Index named `name`, its entries served from `children` (by digest). */
export function indexOf(name: string, doc: ImageIndex | Record<string, unknown>, mediaType: string, children: ReadonlyMap<string, ImageOrIndex>): { index: Index; digest: string } {
  const raw = Buffer.from(JSON.stringify(doc));
  const digest = sha256Digest(raw);
  const index: Index = {
    kind: 'index', name,
    manifest: async () => doc as ImageIndex, rawManifest: async () => raw,
    mediaType: async () => mediaType, digest: async () => digest,
    child: async (cd) => {
      const c = children.get(cd.digest);
      if (!c) throw new XbuildError('NOT_FOUND', `${cd.digest} is not an entry of ${name}`);
      return c;
    },
  };
  return { index, digest };
}

/** Index entry `d` pointing at `img` instead (platform, annotations and other fields kept). */
export async function entryFor(d: Descriptor, img: ImageOrIndex): Promise<Descriptor> {
  const raw = await img.rawManifest();
  return { ...d, mediaType: await img.mediaType(), digest: sha256Digest(raw), size: raw.length };
}
