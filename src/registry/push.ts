// Push an image or index: every blob first (HEAD -> cross-repository mount
// from where the layer came from -> upload), a few at a time; then child
// manifests by digest; the root manifest (the tag) only after all of them
// were confirmed. If anything fails, the tag was never written.
import type { ImageOrIndex } from '../oci/model.ts';
import type { RegistryClient } from './client.ts';
import type { RegistryReference } from '../oci/reference.ts';
import { collectBlobs } from '../oci/walk.ts';
import type { Readable } from 'node:stream';
import { readAll } from '../oci/digest.ts';
import { XbuildError } from '../errors.ts';

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
  let firstError: unknown;
  // ... and the blobs other workers are sending are abandoned: their sources are destroyed
  // (a registry source stops its retries), so the command ends with the first error.
  const open = new Set<Readable>();
  const tracked = (opener: () => Promise<Readable>) => async () => {
    const r = await opener();
    if (stop) { r.destroy(); throw new XbuildError('IO', 'abandoned after another blob failed'); }
    open.add(r);
    r.once('close', () => open.delete(r));
    return r;
  };
  const worker = async () => {
    while (!stop && next < blobs.length) {
      const b = blobs[next++]!;
      try {
        const r = await client.pushBlob(repo, b.desc, tracked(b.open), b.source ? { mountFrom: b.source } : {});
        counts[r]++;
      } catch (e) {
        if (!stop) {
          stop = true;
          firstError = e;
          for (const r of open) r.destroy();
        }
        throw e;
      }
    }
  };
  const workers = Array.from({ length: Math.min(PUSH_CONCURRENCY, blobs.length) }, worker);
  const results = await Promise.allSettled(workers);
  // the first failure is the one to report (the others are its consequences)
  if (results.some((r) => r.status === 'rejected')) throw firstError;
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
