// Where a made image goes (shared by wrap and unwrap): an OCI layout per -t
// tag, a docker-archive (one platform), or a push to each registry target
// (blobs first, the tag last: see push.ts).
import type { ImageOrIndex, Layer } from '../oci/model.ts';
import { formatReference, type ImageReference } from '../oci/reference.ts';
import { XbuildError, wrapError } from '../errors.ts';
import type { OnProgress } from '../progress.ts';
import { writeOciLayout } from '../layout/oci-layout.ts';
import { writeDockerArchive } from '../layout/docker-archive.ts';
import type { RegistryClient } from '../registry/client.ts';
import { ociRefName, repoTag, type ResolvedOutputs } from './output.ts';
import { pushImage, type PushSummary } from '../registry/push.ts';

/** docker-pull-like wording for the library's progress events. */
export function wordedProgress(onProgress: OnProgress, verb: string, mountedFrom: Map<string, string>): OnProgress {
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

export interface DeliveredOutput { reference: string; digest: string; blobs?: PushSummary['blobs'] }

async function layersOf(x: ImageOrIndex): Promise<Layer[]> {
  if (x.kind === 'image') return x.layers();
  const out: Layer[] = [];
  for (const d of (await x.manifest()).manifests) out.push(...await layersOf(await x.child(d)));
  return out;
}

export interface DeliverContext {
  /** Where the input came from (registry layers are mounted from there). */
  baseRef: ImageReference;
  mountedFrom: Map<string, string>;
  pushClient: RegistryClient;
  onProgress: OnProgress;
  /** The input's name, and "wrapping <name>" for error context. */
  name: string;
  what: string;
  /** The platforms the operation made (for the docker-archive refusal) and whether the index holds more. */
  platforms: string[];
  morePlatforms: boolean;
}

export async function deliverImage(image: ImageOrIndex, outs: ResolvedOutputs, c: DeliverContext): Promise<{ single: ImageOrIndex; outputs: DeliveredOutput[] }> {
  let single = image;
  if (outs.type === 'docker' && single.kind === 'index') {
    const m = await single.manifest();
    if (m.manifests.length === 1) single = await single.child(m.manifests[0]!);
  }
  if (outs.type === 'docker' && single.kind === 'index') {
    throw new XbuildError('UNSUPPORTED', `a docker-archive holds one platform, and ${c.name} gives ${c.platforms.join(', ')}${c.morePlatforms ? ' (and more)' : ''}`, {
      hint: `pick one with --platform ${c.platforms[0] ?? 'linux/arm/v7'}, or use --output type=oci`,
    });
  }
  const outputs: DeliveredOutput[] = [];
  try {
    if (outs.type === 'oci') {
      const tags = outs.tags.length ? outs.tags.map(ociRefName) : [undefined];
      for (const tag of tags) {
        c.onProgress({ kind: 'step', message: `writing oci:${outs.dest}${tag ? `:${tag}` : ''}` });
        const w = await writeOciLayout(outs.dest!, image, { tag, onProgress: c.onProgress });
        outputs.push({ reference: `oci:${outs.dest}${tag ? `:${tag}` : ''}`, digest: w.digest });
      }
    } else if (outs.type === 'docker') {
      c.onProgress({ kind: 'step', message: `writing docker-archive:${outs.dest}` });
      const img = single.kind === 'image' ? single : undefined;
      if (!img) throw new XbuildError('UNSUPPORTED', 'a docker-archive holds a single image');
      const w = await writeDockerArchive(outs.dest!, img, { repoTags: outs.tags.map(repoTag), onProgress: c.onProgress });
      outputs.push({ reference: `docker-archive:${outs.dest}`, digest: w.digest });
    } else {
      for (const t of outs.tags) {
        const target = formatReference(t);
        c.onProgress({ kind: 'step', message: `pushing ${target}` });
        if (c.baseRef.transport === 'registry') {
          for (const l of await layersOf(image)) if (l.source) c.mountedFrom.set(l.descriptor.digest, `${l.source.registry}/${l.source.repository}`);
        }
        const pushed = await pushImage(image, t, c.pushClient).catch((e) => { throw wrapError(`pushing ${target}`, e); });
        outputs.push({ reference: target, digest: pushed.digest, blobs: pushed.blobs });
      }
    }
  } catch (e) {
    throw wrapError(c.what, e);
  }
  return { single, outputs };
}
