// Distribution API client: one object holding the session (endpoint, auth,
// retry policy) of session.ts, with the operations of manifests.ts,
// blob-download.ts and blob-upload.ts.
//
//   const c = new RegistryClient({ env, insecureRegistries, onProgress, retry });
//   const { body, mediaType, digest } = await c.getManifest(ref);
//   const stream = await c.getBlob({ registry, repository }, desc); // verified at EOF, resumes after resets
//   await c.pushBlob(dst, desc, opener, { mountFrom: layer.source }); // 'exists' | 'mounted' | 'uploaded'
//   await c.putManifest(dstRef, mediaType, body);                     // push only after every blob
//
// Progress: getBlob and pushBlob report `bytes` events (id = digest) and
// pushBlob a `done` event whose note is exists/mounted/uploaded; retries and
// refused mounts are reported as `log` events.
import type { Readable } from 'node:stream';
import type { Descriptor, Opener } from '../oci/model.ts';
import type { RegistryReference } from '../oci/reference.ts';
import { getBlob, hasBlob } from './blob-download.ts';
import { pushBlob, type PushResult, type UploadSizes } from './blob-upload.ts';
import { DEFAULT_MANIFEST_ACCEPT, getManifest, headManifest, putManifest } from './manifests.ts';
import { RegistrySession, type RegistryClientOptions, type RepositoryName } from './session.ts';

export { apiHost, type RegistryClientOptions, type RepositoryName } from './session.ts';
export { DEFAULT_MANIFEST_ACCEPT } from './manifests.ts';
export { parseUploadRange } from './blob-upload.ts';

export class RegistryClient {
  private readonly session: RegistrySession;
  private readonly sizes: UploadSizes;

  constructor(readonly opts: RegistryClientOptions) {
    this.session = new RegistrySession(opts);
    this.sizes = { monolithicMax: opts.monolithicMaxBytes ?? 32 * 1024 * 1024, chunkBytes: opts.chunkBytes ?? 8 * 1024 * 1024 };
  }

  /** Close idle keep-alive sockets (lets a short-lived process exit at once). */
  close(): void {
    this.session.close();
  }

  getManifest(ref: RegistryReference, accept: string[] = DEFAULT_MANIFEST_ACCEPT): Promise<{ mediaType: string; digest: string; body: Buffer }> {
    return getManifest(this.session, ref, accept);
  }

  headManifest(ref: RegistryReference): Promise<{ mediaType: string; digest: string; size: number } | undefined> {
    return headManifest(this.session, ref);
  }

  putManifest(ref: RegistryReference, mediaType: string, body: Buffer): Promise<string> {
    return putManifest(this.session, ref, mediaType, body);
  }

  hasBlob(repo: RepositoryName, digest: string): Promise<boolean> {
    return hasBlob(this.session, repo, digest);
  }

  getBlob(repo: RepositoryName, desc: Descriptor): Promise<Readable> {
    return getBlob(this.session, repo, desc);
  }

  pushBlob(repo: RepositoryName, desc: Descriptor, open: Opener, opts: { mountFrom?: RepositoryName } = {}): Promise<PushResult> {
    return pushBlob(this.session, this.sizes, repo, desc, open, opts);
  }
}
