// `xbuild unwrap` end to end, minus the process: open the built image, unwrap
// it, write or push the result to every destination (the same names,
// destinations, auth and progress as wrap).
import type { Platform } from '../oci/model.ts';
import { openReference } from '../open/open.ts';
import { formatReference, parseImageName } from '../oci/reference.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { resolveOutputs, type OutputSpec } from '../open/output.ts';
import { deliverImage, wordedProgress, type DeliveredOutput } from '../open/deliver.ts';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.ts';
import { unwrapImage, type UnwrappedEntry } from './unwrap.ts';
import { selectPlatforms } from './select.ts';

export interface UnwrapRequest {
  image: string;
  tags: string[];
  output?: OutputSpec;
  platforms?: Platform[];
  env: Record<string, string | undefined>;
  insecureRegistries?: string[];
}

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

export async function runUnwrap(req: UnwrapRequest, deps: { registry?: Partial<Omit<RegistryClientOptions, 'env' | 'insecureRegistries' | 'onProgress'>> } = {},
  onProgress: OnProgress = noProgress): Promise<UnwrapReport> {
  const ref = parseImageName(req.image);
  const outs = resolveOutputs(req.tags, req.output);
  const name = formatReference(ref);
  const mountedFrom = new Map<string, string>();
  const clientOpts = { ...deps.registry, env: req.env, insecureRegistries: req.insecureRegistries };
  const pullClient = new RegistryClient({ ...clientOpts, onProgress: wordedProgress(onProgress, 'Downloading', mountedFrom) });
  const pushClient = new RegistryClient({ ...clientOpts, onProgress: wordedProgress(onProgress, 'Pushing', mountedFrom) });
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
    pullClient.close(); pushClient.close();
  }
}
