// `xbuild wrap` end to end, minus the process: open the base, wrap it, write
// or push the result to every destination. Dependencies (how layers are made,
// how images are pushed) are injected so tests can run every path.
import type { Platform } from '../oci/model.ts';
import { openReference, type OpenOptions } from '../open/open.ts';
import { formatReference, parseImageName, type ImageReference } from '../oci/reference.ts';

import { XbuildError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { wrapImage, type LayerSource, type WrappedEntry } from './wrap.ts';
import { resolveOutputs, type OutputSpec, type ResolvedOutputs } from '../open/output.ts';
import { deliverImage, wordedProgress, type DeliveredOutput } from '../open/deliver.ts';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.ts';

export interface WrapRequest {
  /** Base image name (registry reference, oci:DIR[:TAG], docker-archive:FILE[:REF]). */
  image: string;
  tags: string[];
  output?: OutputSpec;
  platforms?: Platform[];
  env: Record<string, string | undefined>;
  insecureRegistries?: string[];
  sourceDateEpoch?: number;
  hostArch?: string;
  xbuildVersion: string;
  /** Leave the wrapped image in cross-build mode (wrap --start). */
  start?: boolean;
  /** Cache of built xbuild layers (the CLI: <cache root>/layers unless --no-layer-cache). */
  layerCacheDir?: string;
  /** Deadlines: the whole command, one blob download, and silence on a connection. */
  timeouts?: { commandMs?: number; blobMs?: number; stallMs?: number };
}

export interface WrapDeps {
  layerSource: LayerSource;
  /** Registry client options (tests: retry timings, DNS); env/insecure/progress come from the request. */
  registry?: Partial<Omit<RegistryClientOptions, 'env' | 'insecureRegistries' | 'onProgress'>>;
}

export interface WrapReport {
  base: string;
  baseDigest: string;
  digest: string;
  mediaType: string;
  /** Where the result went: "localhost:5000/x:tag", "oci:DIR:TAG", "docker-archive:FILE". */
  outputs: DeliveredOutput[];
  platforms: WrappedEntry[];
}

export async function runWrap(req: WrapRequest, deps: WrapDeps, onProgress: OnProgress = noProgress): Promise<WrapReport> {
  // Validate every name before any work (bad input fails fast, nothing written).
  const baseRef = parseImageName(req.image);
  const outs = resolveOutputs(req.tags, req.output);
  const baseName = formatReference(baseRef);
  const mountedFrom = new Map<string, string>();
  const t = req.timeouts ?? {};
  const clientOpts = {
    ...deps.registry, env: req.env, insecureRegistries: req.insecureRegistries,
    ...(t.blobMs !== undefined ? { blobDeadlineMs: t.blobMs } : {}), ...(t.stallMs !== undefined ? { stallTimeoutMs: t.stallMs } : {}),
  };
  const pullClient = new RegistryClient({ ...clientOpts, onProgress: wordedProgress(onProgress, 'Downloading', mountedFrom) });
  const pushClient = new RegistryClient({ ...clientOpts, onProgress: wordedProgress(onProgress, 'Pushing', mountedFrom) });
  let timer: NodeJS.Timeout | undefined;
  try {
    const work = wrapWith(req, deps, baseRef, outs, baseName, pullClient, pushClient, mountedFrom, onProgress);
    if (t.commandMs === undefined) return await work;
    work.catch(() => { /* after the deadline the command has already failed */ });
    return await Promise.race([work, new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new XbuildError('NETWORK', `wrapping ${baseName}: not done within the --timeout of ${t.commandMs! / 1000} s`)), t.commandMs);
    })]);
  } finally {
    clearTimeout(timer);
    pullClient.close(); pushClient.close();
  }
}

async function wrapWith(req: WrapRequest, deps: WrapDeps, baseRef: ImageReference, outs: ResolvedOutputs, baseName: string,
  pullClient: RegistryClient, pushClient: RegistryClient, mountedFrom: Map<string, string>, onProgress: OnProgress): Promise<WrapReport> {
  const openOpts: OpenOptions = { env: req.env, insecureRegistries: req.insecureRegistries, onProgress, registryClient: pullClient };
  onProgress({ kind: 'step', message: `reading ${baseName}` });
  const base = await openReference(baseRef, openOpts);
  const baseDigest = await base.digest();
  const result = await wrapImage(base, {
    baseName, layerSource: deps.layerSource, platforms: req.platforms, hostArch: req.hostArch,
    sourceDateEpoch: req.sourceDateEpoch, xbuildVersion: req.xbuildVersion, onProgress, ...(req.start ? { start: true } : {}),
    ...(req.layerCacheDir ? { layerCacheDir: req.layerCacheDir } : {}),
  });
  const { single, outputs } = await deliverImage(result.image, outs, {
    baseRef, mountedFrom, pushClient, onProgress, name: baseName, what: `wrapping ${baseName}`,
    platforms: result.entries.filter((e) => e.action === 'wrapped').map((e) => e.platform),
    morePlatforms: result.entries.some((e) => e.action === 'kept'),
  });
  return { base: baseName, baseDigest, digest: await single.digest(), mediaType: await single.mediaType(), outputs, platforms: result.entries };
}
