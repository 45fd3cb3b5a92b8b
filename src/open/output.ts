// Where `xbuild wrap` puts its result: --output type=registry|oci|docker[,dest=PATH]
// plus the -t names. Parsing and the default (refuse with a hint) live here.
import { XbuildError } from '../errors.ts';
import { familiarName, formatReference, parseRegistryReference, type RegistryReference } from '../oci/reference.ts';

export type OutputType = 'registry' | 'oci' | 'docker';
export interface OutputSpec { type: OutputType; dest?: string }

/** Parse "type=oci,dest=./out" (buildx syntax; a bare "oci" means type=oci). */
export function parseOutputSpec(text: string): OutputSpec {
  const spec: Partial<OutputSpec> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? 'type' : part.slice(0, eq).trim();
    const val = eq === -1 ? part : part.slice(eq + 1).trim();
    if (key === 'type') {
      if (val !== 'registry' && val !== 'oci' && val !== 'docker') {
        throw new XbuildError('USAGE', `--output type "${val}" is not one of registry, oci, docker`, { hint: 'e.g. --output type=oci,dest=./out or --output type=docker,dest=img.tar' });
      }
      spec.type = val;
    } else if (key === 'dest') {
      if (val === '') throw new XbuildError('USAGE', '--output dest= is empty');
      spec.dest = val;
    } else {
      throw new XbuildError('USAGE', `--output key "${key}" is not known (type, dest)`);
    }
  }
  if (!spec.type) throw new XbuildError('USAGE', `--output "${text}" has no type`, { hint: 'e.g. --output type=oci,dest=./out' });
  return spec as OutputSpec;
}

export interface ResolvedOutputs {
  type: OutputType;
  dest?: string;
  /** Registry targets (type=registry) or names to record (oci: ref.name tags, docker: RepoTags). */
  tags: RegistryReference[];
}

/**
 * Combine -t and --output. Default when neither is given: refuse with a hint
 * (crane and buildx never guess a destination; wrap must not overwrite the
 * base or leave an unnamed directory behind).
 */
export function resolveOutputs(tags: string[], output: OutputSpec | undefined): ResolvedOutputs {
  const refs = tags.map((t) => {
    const r = parseRegistryReference(t);
    if (r.digest) throw new XbuildError('USAGE', `-t ${t}: a target name cannot contain a digest (the digest is the result)`);
    return r;
  });
  if (!output) {
    if (refs.length === 0) {
      throw new XbuildError('USAGE', 'no destination: give -t REGISTRY/REPO:TAG to push, or --output type=oci|docker,dest=PATH to save', {
        hint: 'e.g. xbuild wrap arm32v7/debian:bookworm -t localhost:5000/debian-xbuild:bookworm, or --output type=oci,dest=./debian-xbuild',
      });
    }
    return { type: 'registry', tags: refs };
  }
  if (output.type === 'registry') {
    if (output.dest) throw new XbuildError('USAGE', '--output type=registry takes no dest; name targets with -t');
    if (refs.length === 0) throw new XbuildError('USAGE', '--output type=registry needs at least one -t REGISTRY/REPO:TAG');
    return { type: 'registry', tags: refs };
  }
  if (!output.dest) throw new XbuildError('USAGE', `--output type=${output.type} needs dest=PATH`, { hint: output.type === 'oci' ? '--output type=oci,dest=./image-xbuild' : '--output type=docker,dest=./image-xbuild.tar' });
  return { type: output.type, dest: output.dest, tags: refs };
}

/** How a -t name is recorded locally: tag for oci ref.name, Docker's short name for RepoTags. */
export function ociRefName(r: RegistryReference): string { return r.tag ?? 'latest'; }
export function repoTag(r: RegistryReference): string { return familiarName(r); }
export { formatReference };
