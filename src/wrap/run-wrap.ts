// `xbuild wrap` end to end, minus the process: open the base, wrap it, write
// or push the result to every destination. Dependencies (how layers are made,
// how images are pushed) are injected so tests can run every path.
import { openReference, type OpenOptions } from '../open/open.ts';
import { XbuildError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { wrapImage, type LayerSource, type WrappedEntry } from './wrap.ts';
import { deliverImage, type DeliveredOutput } from '../open/deliver.ts';
import { openImageSession, type ImageRequest, type ImageSession, type RegistryOverrides } from '../open/request.ts';

/** `image` names the base. */
export interface WrapRequest extends ImageRequest {
  sourceDateEpoch?: number;
  hostArch?: string;
  xbuildVersion: string;
  /** Leave the wrapped image in cross-build mode (wrap --start). */
  start?: boolean;
  /** Deadlines: the whole command, one blob download, and silence on a connection. */
  timeouts?: { commandMs?: number; blobMs?: number; stallMs?: number };
}

export interface WrapDeps {
  layerSource: LayerSource;
  registry?: RegistryOverrides;
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
  const t = req.timeouts ?? {};
  const session = openImageSession(req, {
    ...deps.registry, ...(t.blobMs !== undefined ? { blobDeadlineMs: t.blobMs } : {}), ...(t.stallMs !== undefined ? { stallTimeoutMs: t.stallMs } : {}),
  }, onProgress);
  const baseName = session.name;
  let timer: NodeJS.Timeout | undefined;
  try {
    const work = wrapWith(req, deps, session, onProgress);
    if (t.commandMs === undefined) return await work;
    work.catch(() => { /* after the deadline the command has already failed */ });
    return await Promise.race([work, new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new XbuildError('NETWORK', `wrapping ${baseName}: not done within the --timeout of ${t.commandMs! / 1000} s`)), t.commandMs);
    })]);
  } finally {
    clearTimeout(timer);
    session.close();
  }
}

async function wrapWith(req: WrapRequest, deps: WrapDeps, session: ImageSession, onProgress: OnProgress): Promise<WrapReport> {
  const { ref: baseRef, outs, name: baseName, mountedFrom, pullClient, pushClient } = session;
  const openOpts: OpenOptions = { env: req.env, insecureRegistries: req.insecureRegistries, onProgress, registryClient: pullClient };
  onProgress({ kind: 'step', message: `reading ${baseName}` });
  const base = await openReference(baseRef, openOpts);
  const baseDigest = await base.digest();
  const result = await wrapImage(base, {
    baseName, layerSource: deps.layerSource, platforms: req.platforms, hostArch: req.hostArch,
    sourceDateEpoch: req.sourceDateEpoch, xbuildVersion: req.xbuildVersion, onProgress, ...(req.start ? { start: true } : {}),
  });
  const { single, outputs } = await deliverImage(result.image, outs, {
    baseRef, mountedFrom, pushClient, onProgress, name: baseName, what: `wrapping ${baseName}`,
    platforms: result.entries.filter((e) => e.action === 'wrapped').map((e) => e.platform),
    morePlatforms: result.entries.some((e) => e.action === 'kept'),
  });
  return { base: baseName, baseDigest, digest: await single.digest(), mediaType: await single.mediaType(), outputs, platforms: result.entries };
}
