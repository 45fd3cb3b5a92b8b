// Opens any image name xbuild accepts (registry reference, oci:DIR[:TAG],
// docker-archive:FILE) as an Image or Index, through the backend for it. Sits
// above registry/ and layout/; wrap and verify read images only through it.
import type { OnProgress } from '../progress.ts';
import type { ImageOrIndex } from '../oci/model.ts';
import { wrapError } from '../errors.ts';
import { RegistryClient } from '../registry/client.ts';
import { openRegistryImage } from '../registry/registry-image.ts';
import { formatReference, parseImageName, type ImageReference } from '../oci/reference.ts';
import { readOciLayout } from '../layout/oci-layout.ts';
import { readDockerArchive } from '../layout/docker-archive.ts';

export interface OpenOptions {
  /** Environment for credentials lookup (DOCKER_CONFIG, HOME); the CLI passes process.env. */
  env: Record<string, string | undefined>;
  /** host[:port] that may be spoken to over plain HTTP (loopback always may). */
  insecureRegistries?: string[];
  onProgress?: OnProgress;
  /** Reuse this registry client (the caller closes it); default: a new one per call. */
  registryClient?: RegistryClient;
}

export async function openImage(name: string, opts: OpenOptions): Promise<ImageOrIndex> {
  return openReference(parseImageName(name), opts);
}

export async function openReference(ref: ImageReference, _opts: OpenOptions): Promise<ImageOrIndex> {
  const what = `opening ${formatReference(ref)}`;
  try {
    switch (ref.transport) {
      case 'oci': return await readOciLayout(ref.dir, ref.tag);
      case 'docker-archive': return await readDockerArchive(ref.file, ref.ref);
      case 'registry': {
        const client = _opts.registryClient ?? new RegistryClient({ env: _opts.env, insecureRegistries: _opts.insecureRegistries, onProgress: _opts.onProgress });
        return await openRegistryImage(ref, client);
      }
    }
  } catch (e) {
    throw wrapError(what, e);
  }
}
