// `xbuild unwrap` end to end, minus the process: open the built image, unwrap
// it, write or push the result to every destination (the same names,
// destinations, auth and progress as wrap).
import { openReference } from '../open/open.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { deliverImage, type DeliveredOutput } from '../open/deliver.ts';
import { openImageSession, type ImageRequest, type RegistryOverrides } from '../open/request.ts';
import { unwrapImage, type UnwrappedEntry } from './unwrap.ts';
import { selectPlatforms } from './select.ts';

export type UnwrapRequest = ImageRequest;

export interface UnwrapReport {
  image: string;
  inputDigest: string;
  digest: string;
  mediaType: string;
  outputs: DeliveredOutput[];
  platforms: UnwrappedEntry[];
  /** Compressed layer bytes removed (sum over platforms). */
  bytesSaved: number;
}

export async function runUnwrap(req: UnwrapRequest, deps: { registry?: RegistryOverrides } = {}, onProgress: OnProgress = noProgress): Promise<UnwrapReport> {
  const session = openImageSession(req, deps.registry ?? {}, onProgress);
  const { ref, outs, name, mountedFrom, pullClient, pushClient } = session;
  try {
    onProgress({ kind: 'step', message: `reading ${name}` });
    let input = await openReference(ref, { env: req.env, insecureRegistries: req.insecureRegistries, onProgress, registryClient: pullClient });
    const inputDigest = await input.digest();
    if (req.platforms?.length) input = await selectPlatforms(input, req.platforms);
    const result = await unwrapImage(input, { onProgress });
    const unwrapped = result.entries.filter((e) => e.action === 'unwrapped');
    for (const e of unwrapped) {
      onProgress({ kind: 'step', message: `${e.platform}: ${e.layers!.reused} layers reused, ${e.layers!.rewritten} rewritten, ${e.layers!.dropped} dropped; ${e.bytesSaved} bytes saved` });
    }
    const { single, outputs } = await deliverImage(result.image, outs, {
      baseRef: ref, mountedFrom, pushClient, onProgress, name, what: `unwrapping ${name}`,
      platforms: unwrapped.map((e) => e.platform), morePlatforms: result.entries.some((e) => e.action === 'kept'),
    });
    return { image: name, inputDigest, digest: await single.digest(), mediaType: await single.mediaType(), outputs, platforms: result.entries, bytesSaved: result.bytesSaved };
  } finally {
    session.close();
  }
}
