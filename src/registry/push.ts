// Push an image or index: every blob first (HEAD -> cross-repository mount
// from where the layer came from -> upload), a few at a time; then child
// manifests by digest; the root manifest (the tag) only after all of them
// were confirmed. If anything fails, the tag was never written.
import type { ImageOrIndex } from '../oci/model.ts';
import type { RegistryClient } from './client.ts';
import type { RegistryReference } from '../oci/reference.ts';
import { collectBlobs } from '../oci/walk.ts';
import { readAll } from '../oci/digest.ts';

export const PUSH_CONCURRENCY = 3;

export interface PushSummary { digest: string; blobs: Record<'exists' | 'mounted' | 'uploaded', number> }

export async function pushImage(root: ImageOrIndex, target: RegistryReference, client: RegistryClient): Promise<PushSummary> {
  const repo = { registry: target.registry, repository: target.repository };
  const all = await collectBlobs(root);
  const blobs = all.filter((b) => b.kind !== 'manifest');
  const manifests = all.filter((b) => b.kind === 'manifest');
  const counts = { exists: 0, mounted: 0, uploaded: 0 };
  let next = 0;
  let stop = false; // after the first failure no new blob is started
  const worker = async () => {
    while (!stop && next < blobs.length) {
      const b = blobs[next++]!;
      try {
        const r = await client.pushBlob(repo, b.desc, b.open, b.source ? { mountFrom: b.source } : {});
        counts[r]++;
      } catch (e) {
        stop = true;
        throw e;
      }
    }
  };
  const workers = Array.from({ length: Math.min(PUSH_CONCURRENCY, blobs.length) }, worker);
  const results = await Promise.allSettled(workers);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  let digest = '';
  for (let i = 0; i < manifests.length; i++) {
    const m = manifests[i]!;
    const body = await readAll(await m.open());
    const isRoot = i === manifests.length - 1;
    const ref: RegistryReference = isRoot
      ? { transport: 'registry', ...repo, ...(target.tag ? { tag: target.tag } : { digest: m.desc.digest }) }
      : { transport: 'registry', ...repo, digest: m.desc.digest };
    digest = await client.putManifest(ref, m.desc.mediaType, body);
  }
  return { digest, blobs: counts };
}
