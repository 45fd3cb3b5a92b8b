// What every command that reads one image and delivers a result is asked
// (wrap, unwrap), and the work they share before their own: names checked
// before any work, destinations resolved, one registry client to pull and
// one to push (their progress worded "Downloading" / "Pushing", mounts
// remembered so a pushed blob can say where it came from).
import type { Platform } from '../oci/model.ts';
import { formatReference, parseImageName, type ImageReference } from '../oci/reference.ts';
import type { OnProgress } from '../progress.ts';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.ts';
import { wordedProgress } from './deliver.ts';
import { resolveOutputs, type OutputSpec, type ResolvedOutputs } from './output.ts';

export interface ImageRequest {
  /** Input image name (registry reference, oci:DIR[:TAG], docker-archive:FILE[:REF]). */
  image: string;
  tags: string[];
  output?: OutputSpec;
  platforms?: Platform[];
  env: Record<string, string | undefined>;
  insecureRegistries?: string[];
}

/** Registry client options a caller may set (tests: retry timings, DNS); env/insecure/progress come from the request. */
export type RegistryOverrides = Partial<Omit<RegistryClientOptions, 'env' | 'insecureRegistries' | 'onProgress'>>;

export interface ImageSession {
  ref: ImageReference;
  name: string;
  outs: ResolvedOutputs;
  mountedFrom: Map<string, string>;
  pullClient: RegistryClient;
  pushClient: RegistryClient;
  close(): void;
}

/** Validate the request's names (bad input fails before any work) and open the two registry clients. */
export function openImageSession(req: ImageRequest, registry: RegistryOverrides, onProgress: OnProgress): ImageSession {
  const ref = parseImageName(req.image);
  const outs = resolveOutputs(req.tags, req.output);
  const mountedFrom = new Map<string, string>();
  const clientOpts = { ...registry, env: req.env, insecureRegistries: req.insecureRegistries };
  const pullClient = new RegistryClient({ ...clientOpts, onProgress: wordedProgress(onProgress, 'Downloading', mountedFrom) });
  const pushClient = new RegistryClient({ ...clientOpts, onProgress: wordedProgress(onProgress, 'Pushing', mountedFrom) });
  return { ref, name: formatReference(ref), outs, mountedFrom, pullClient, pushClient, close: () => { pullClient.close(); pushClient.close(); } };
}
