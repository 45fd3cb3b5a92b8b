// The registry backend of the image model: manifests and blobs through the
// Distribution client; every layer remembers its repository so a push to the
// same registry can mount it instead of re-sending it.
import type { ImageOrIndex } from '../oci/model.ts';
import type { RegistryClient } from './client.ts';
import { formatReference, type RegistryReference } from '../oci/reference.ts';
import { fromManifestBytes, type BlobStore } from '../oci/store-image.ts';

export async function openRegistryImage(ref: RegistryReference, client: RegistryClient): Promise<ImageOrIndex> {
  const { body, digest, mediaType } = await client.getManifest(ref);
  const repo = { registry: ref.registry, repository: ref.repository };
  const store: BlobStore = {
    open: (desc) => client.getBlob(repo, desc),
    manifest: async (desc) => (await client.getManifest({ transport: 'registry', ...repo, digest: desc.digest }, [desc.mediaType])).body,
    source: repo,
  };
  return fromManifestBytes(store, body, digest, formatReference(ref), mediaType);
}
