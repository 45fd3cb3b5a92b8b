// Manifests over the Distribution API: GET (verified against a digest
// reference), HEAD, PUT (digest echoed by the registry checked).
import { XbuildError } from '../errors.ts';
import { DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST } from '../oci/media-types.ts';
import { formatReference, type RegistryReference } from '../oci/reference.ts';
import { digestMismatch, sha256Digest } from '../oci/digest.ts';
import { pullScope, pushScope } from './auth.ts';
import { networkError } from './errors.ts';
import type { RegistrySession, RequestSpec } from './session.ts';
import { readBody } from './transport.ts';

export const DEFAULT_MANIFEST_ACCEPT = [OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2];
const MANIFEST_MAX = 4 * 1024 * 1024;

/** GET a manifest by digest (verified) or tag. `digest` is the sha256 of `body`. */
export async function getManifest(s: RegistrySession, ref: RegistryReference, accept: string[] = DEFAULT_MANIFEST_ACCEPT): Promise<{ mediaType: string; digest: string; body: Buffer }> {
  const name = formatReference(ref);
  const what = `getting manifest ${name}`;
  const spec: RequestSpec = {
    what, method: 'GET', path: manifestPath(ref), scopes: [pullScope(ref.repository)],
    headers: { Accept: accept.join(', ') },
  };
  return s.retrying(async () => {
    const res = await s.call(ref.registry, spec, (st) => st === 200);
    let body: Buffer;
    try {
      body = await readBody(res, MANIFEST_MAX);
    } catch (err) {
      throw networkError(what, 'GET', await s.url(ref.registry, spec.path), ref.registry, err);
    }
    const digest = sha256Digest(body);
    if (ref.digest && digest !== ref.digest) throw digestMismatch(`manifest ${name}`, { digest: ref.digest }, { digest });
    return { mediaType: manifestMediaType(res.headers['content-type'], body), digest, body };
  });
}

/** HEAD a manifest: undefined when the tag/digest does not exist. */
export async function headManifest(s: RegistrySession, ref: RegistryReference): Promise<{ mediaType: string; digest: string; size: number } | undefined> {
  const spec: RequestSpec = {
    what: `checking manifest ${formatReference(ref)}`, method: 'HEAD', path: manifestPath(ref),
    scopes: [pullScope(ref.repository)], headers: { Accept: DEFAULT_MANIFEST_ACCEPT.join(', ') },
  };
  return s.retrying(async () => {
    const res = await s.callDrained(ref.registry, spec, (st) => st === 200 || st === 404);
    if (res.status === 404) return undefined;
    const digest = String(res.headers['docker-content-digest'] ?? '');
    if (!digest) {
      // Not all registries send the digest on HEAD: fall back to GET.
      const m = await getManifest(s, ref);
      return { mediaType: m.mediaType, digest: m.digest, size: m.body.length };
    }
    return { mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(), digest, size: Number(res.headers['content-length'] ?? 0) };
  });
}

/** PUT a manifest under a tag or digest; returns its digest. Call only after every blob it names is pushed. */
export async function putManifest(s: RegistrySession, ref: RegistryReference, mediaType: string, body: Buffer): Promise<string> {
  const digest = sha256Digest(body);
  if (ref.digest && ref.digest !== digest) throw digestMismatch(`manifest for ${formatReference(ref)}`, { digest: ref.digest }, { digest });
  const spec: RequestSpec = {
    what: `pushing manifest ${formatReference(ref)}`, method: 'PUT', path: manifestPath({ ...ref, digest: ref.tag ? undefined : ref.digest }),
    scopes: [pushScope(ref.repository)], headers: { 'Content-Type': mediaType }, body,
  };
  return s.retrying(async () => {
    const res = await s.callDrained(ref.registry, spec, (st) => st === 201 || st === 200 || st === 202);
    const echoed = res.headers['docker-content-digest'];
    if (typeof echoed === 'string' && echoed.startsWith('sha256:') && echoed !== digest) {
      throw digestMismatch(`manifest pushed to ${formatReference(ref)} (registry computed ${echoed})`, { digest }, { digest: echoed });
    }
    return digest;
  });
}

function manifestPath(ref: RegistryReference): string {
  const r = ref.digest ?? ref.tag;
  if (!r) throw new XbuildError('BAD_REFERENCE', `${ref.registry}/${ref.repository} has neither tag nor digest`);
  return `/v2/${ref.repository}/manifests/${r}`;
}

/** Content-Type without parameters; when absent or generic, the body's own mediaType. */
function manifestMediaType(contentType: string | undefined, body: Buffer): string {
  const ct = (contentType ?? '').split(';')[0]!.trim();
  if (ct && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  try {
    const j = JSON.parse(body.toString()) as { mediaType?: string; manifests?: unknown; config?: unknown };
    if (typeof j.mediaType === 'string') return j.mediaType;
    if (j.manifests) return OCI_IMAGE_INDEX;
    if (j.config) return OCI_IMAGE_MANIFEST;
  } catch { /* not JSON: report the header */ }
  return ct || 'application/octet-stream';
}
