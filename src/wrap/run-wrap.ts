// `xbuild wrap` end to end, minus the process: open the base, wrap it, write
// or push the result to every destination. Dependencies (how layers are made,
// how images are pushed) are injected so tests can run every path.
import type { ImageOrIndex, Layer, Platform } from '../oci/model.ts';
import { openReference, type OpenOptions } from '../open/open.ts';
import { formatReference, parseImageName, type ImageReference } from '../oci/reference.ts';
import { XbuildError, wrapError } from '../errors.ts';
import { noProgress, type OnProgress } from '../progress.ts';
import { writeOciLayout } from '../layout/oci-layout.ts';
import { writeDockerArchive } from '../layout/docker-archive.ts';
import { wrapImage, type LayerSource, type WrappedEntry } from './wrap.ts';
import { ociRefName, repoTag, resolveOutputs, type OutputSpec, type ResolvedOutputs } from './output.ts';
import { pushImage, type PushSummary } from '../registry/push.ts';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.ts';

async function layersOf(x: ImageOrIndex): Promise<Layer[]> {
  if (x.kind === 'image') return x.layers();
  const out: Layer[] = [];
  for (const d of (await x.manifest()).manifests) out.push(...await layersOf(await x.child(d)));
  return out;
}

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
}

export interface WrapDeps {
  layerSource: LayerSource;
  /** Registry client options (tests: retry timings, DNS); env/insecure/progress come from the request. */
  registry?: Partial<Omit<RegistryClientOptions, 'env' | 'insecureRegistries' | 'onProgress'>>;
}

/** docker-pull-like wording for the library's progress events. */
function worded(onProgress: OnProgress, verb: string, mountedFrom: Map<string, string>): OnProgress {
  const notes: Record<string, (id: string) => string> = {
    exists: () => 'Layer already exists',
    mounted: (id) => `Mounted from ${mountedFrom.get(id) ?? 'the base repository'}`,
    uploaded: () => 'Pushed',
  };
  return (ev) => {
    if (ev.kind === 'bytes') onProgress({ ...ev, id: `${verb}:${ev.id}`, label: `${ev.label}: ${verb}` });
    else if (ev.kind === 'done' && ev.note && notes[ev.note]) onProgress({ ...ev, id: `Pushing:${ev.id}`, note: notes[ev.note]!(ev.id) });
    else onProgress(ev);
  };
}

export interface WrapReport {
  base: string;
  baseDigest: string;
  digest: string;
  mediaType: string;
  /** Where the result went: "localhost:5000/x:tag", "oci:DIR:TAG", "docker-archive:FILE". */
  outputs: Array<{ reference: string; digest: string; blobs?: PushSummary['blobs'] }>;
  platforms: WrappedEntry[];
}

export async function runWrap(req: WrapRequest, deps: WrapDeps, onProgress: OnProgress = noProgress): Promise<WrapReport> {
  // Validate every name before any work (bad input fails fast, nothing written).
  const baseRef = parseImageName(req.image);
  const outs = resolveOutputs(req.tags, req.output);
  const baseName = formatReference(baseRef);
  const mountedFrom = new Map<string, string>();
  const clientOpts = { ...deps.registry, env: req.env, insecureRegistries: req.insecureRegistries };
  const pullClient = new RegistryClient({ ...clientOpts, onProgress: worded(onProgress, 'Downloading', mountedFrom) });
  const pushClient = new RegistryClient({ ...clientOpts, onProgress: worded(onProgress, 'Pushing', mountedFrom) });
  try {
    return await wrapWith(req, deps, baseRef, outs, baseName, pullClient, pushClient, mountedFrom, onProgress);
  } finally {
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
    sourceDateEpoch: req.sourceDateEpoch, xbuildVersion: req.xbuildVersion, onProgress,
  });
  let single = result.image;
  if (outs.type === 'docker' && single.kind === 'index') {
    const m = await single.manifest();
    if (m.manifests.length === 1) single = await single.child(m.manifests[0]!);
  }
  if (outs.type === 'docker' && single.kind === 'index') {
    const plats = result.entries.filter((e) => e.action === 'wrapped').map((e) => e.platform);
    throw new XbuildError('UNSUPPORTED', `a docker-archive holds one platform, and ${baseName} gives ${plats.join(', ')}${result.entries.some((e) => e.action === 'kept') ? ' (and more)' : ''}`, {
      hint: `pick one with --platform ${plats[0] ?? 'linux/arm/v7'}, or use --output type=oci`,
    });
  }
  const outputs: WrapReport['outputs'] = [];
  try {
    if (outs.type === 'oci') {
      const tags = outs.tags.length ? outs.tags.map(ociRefName) : [undefined];
      for (const tag of tags) {
        onProgress({ kind: 'step', message: `writing oci:${outs.dest}${tag ? `:${tag}` : ''}` });
        const w = await writeOciLayout(outs.dest!, result.image, { tag, onProgress });
        outputs.push({ reference: `oci:${outs.dest}${tag ? `:${tag}` : ''}`, digest: w.digest });
      }
    } else if (outs.type === 'docker') {
      onProgress({ kind: 'step', message: `writing docker-archive:${outs.dest}` });
      const img = single.kind === 'image' ? single : undefined;
      if (!img) throw new XbuildError('UNSUPPORTED', 'a docker-archive holds a single image');
      const w = await writeDockerArchive(outs.dest!, img, { repoTags: outs.tags.map(repoTag), onProgress });
      outputs.push({ reference: `docker-archive:${outs.dest}`, digest: w.digest });
    } else {
      for (const t of outs.tags) {
        const target = formatReference(t);
        onProgress({ kind: 'step', message: `pushing ${target}` });
        if (baseRef.transport === 'registry') {
          for (const l of await layersOf(result.image)) if (l.source) mountedFrom.set(l.descriptor.digest, `${l.source.registry}/${l.source.repository}`);
        }
        const pushed = await pushImage(result.image, t, pushClient).catch((e) => { throw wrapError(`pushing ${target}`, e); });
        outputs.push({ reference: target, digest: pushed.digest, blobs: pushed.blobs });
      }
    }
  } catch (e) {
    throw wrapError(`wrapping ${baseName}`, e);
  }
  return { base: baseName, baseDigest, digest: await single.digest(), mediaType: await single.mediaType(), outputs, platforms: result.entries };
}
