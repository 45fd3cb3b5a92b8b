// One syntax for every image name xbuild accepts (skopeo transport style):
//   debian, arm32v7/debian:bookworm, localhost:5000/x@sha256:...   registry
//   oci:DIR[:TAG]                                                   OCI image layout
//   docker-archive:FILE[:REF]                                       docker save tarball
// Registry names are normalised as Docker does (debian -> docker.io/library/debian:latest).
import { XbuildError } from '../errors.ts';

export interface RegistryReference {
  transport: 'registry';
  registry: string;     // "docker.io", "localhost:5000" (canonical host[:port])
  repository: string;   // "library/debian"
  tag?: string;         // at least one of tag / digest after normalisation
  digest?: string;
}

export interface OciLayoutReference {
  transport: 'oci';
  dir: string;
  tag?: string;         // org.opencontainers.image.ref.name
}

export interface DockerArchiveReference {
  transport: 'docker-archive';
  file: string;
  ref?: string;         // RepoTags entry to pick (or to write)
}

export type ImageReference = RegistryReference | OciLayoutReference | DockerArchiveReference;

export const DOCKER_HUB = 'docker.io';
/** Host names that all mean Docker Hub; `docker.io` is the canonical spelling. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const DEFAULT_TAG = 'latest';
const NAME_TOTAL_MAX = 255;

// Grammar from the Distribution reference package (github.com/distribution/reference).
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]+$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(input: string, what: string): XbuildError {
  return new XbuildError('BAD_REFERENCE', `invalid image name "${input}": ${what}`, {
    hint: 'image names look like debian, arm32v7/debian:bookworm, host:5000/repo@sha256:<64 hex>, oci:DIR[:TAG] or docker-archive:FILE[:REF]',
  });
}

/**
 * Parse any image name xbuild accepts. Throws XbuildError('BAD_REFERENCE') naming
 * the offending part. Registry names are normalised as Docker does.
 */
export function parseImageName(s: string): ImageReference {
  if (typeof s !== 'string' || s.trim() === '') throw bad(String(s), 'the name is empty');
  if (s !== s.trim()) throw bad(s, 'leading or trailing white space');
  if (s.startsWith('oci:')) return parseOciLayout(s);
  if (s.startsWith('docker-archive:')) return parseDockerArchive(s);
  if (s.startsWith('docker://')) return parseRegistryName(s.slice('docker://'.length), s);
  const transport = /^([a-z][a-z0-9-]*):(?!\d)/.exec(s);
  if (transport && !s.includes('/') && ['dir', 'containers-storage', 'docker-daemon', 'oci-archive'].includes(transport[1]!)) {
    throw bad(s, `transport "${transport[1]}:" is not supported (use a registry name, oci:DIR[:TAG] or docker-archive:FILE[:REF])`);
  }
  return parseRegistryName(s, s);
}

/** Parse a name that must be a registry reference (e.g. a push target). */
export function parseRegistryReference(s: string): RegistryReference {
  const r = parseImageName(s);
  if (r.transport !== 'registry') throw bad(s, `expected a registry reference, got a ${r.transport}: name`);
  return r;
}

function parseOciLayout(s: string): OciLayoutReference {
  // As skopeo's oci: transport: the directory ends at the first ':'.
  const rest = s.slice('oci:'.length);
  const sep = rest.indexOf(':');
  const dir = sep === -1 ? rest : rest.slice(0, sep);
  const tag = sep === -1 ? undefined : rest.slice(sep + 1);
  if (dir === '') throw bad(s, 'the oci: directory is empty (oci:DIR[:TAG])');
  if (tag !== undefined) {
    if (tag === '') throw bad(s, 'the oci: tag after ":" is empty');
    // org.opencontainers.image.ref.name grammar (image-spec annotations.md), roughly.
    if (!/^[A-Za-z0-9._\-:/@+]+$/.test(tag) || !/^[A-Za-z0-9]/.test(tag)) {
      throw bad(s, `the oci: tag "${tag}" has characters outside A-Z a-z 0-9 . _ - : / @ +`);
    }
    return { transport: 'oci', dir, tag };
  }
  return { transport: 'oci', dir };
}

function parseDockerArchive(s: string): DockerArchiveReference {
  // As skopeo's docker-archive: transport: FILE, then an optional tagged name.
  const rest = s.slice('docker-archive:'.length);
  const sep = rest.indexOf(':');
  const file = sep === -1 ? rest : rest.slice(0, sep);
  if (file === '') throw bad(s, 'the docker-archive: file is empty (docker-archive:FILE[:REF])');
  if (sep === -1) return { transport: 'docker-archive', file };
  const refText = rest.slice(sep + 1);
  if (refText === '') throw bad(s, 'the docker-archive: reference after ":" is empty');
  let ref: RegistryReference;
  try {
    ref = parseRegistryName(refText, refText);
  } catch (err) {
    throw bad(s, `the docker-archive: reference is not a valid name (${(err as Error).message.replace(/^invalid image name "[^"]*": /, '')})`);
  }
  if (ref.digest) throw bad(s, 'a docker-archive: reference cannot contain a digest (RepoTags hold name:tag)');
  return { transport: 'docker-archive', file, ref: familiarName(ref) };
}

function parseRegistryName(s: string, input: string): RegistryReference {
  if (s.length === 0) throw bad(input, 'the name is empty');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256_DIGEST.test(digest)) {
      const algo = digest.split(':')[0];
      throw bad(input, digest.includes(':') && algo !== 'sha256'
        ? `digest algorithm "${algo}" is not supported (only sha256)`
        : `digest "${digest}" is not sha256: followed by 64 lower-case hex digits`);
    }
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw bad(input, tag === '' ? 'the tag after ":" is empty' : `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    }
  }
  if (rest === '') throw bad(input, 'the repository name is empty');

  // Docker's rule: the first component is a registry host when it contains '.'
  // or ':', is 'localhost', or has upper-case letters; otherwise Docker Hub.
  const slash = rest.indexOf('/');
  let registry: string;
  let repository: string;
  const first = slash === -1 ? rest : rest.slice(0, slash);
  if (slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    repository = rest.slice(slash + 1);
    validateHost(registry, input);
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;

  if (repository === '') throw bad(input, 'the repository name is empty');
  for (const comp of repository.split('/')) {
    if (comp === '') throw bad(input, `repository "${repository}" has an empty path component`);
    if (!PATH_COMPONENT.test(comp)) {
      throw bad(input, comp !== comp.toLowerCase()
        ? `repository component "${comp}" must be lower case`
        : `repository component "${comp}" may only hold a-z 0-9 separated by ".", "_", "__" or "-"`);
    }
  }
  if (registry.length + 1 + repository.length > NAME_TOTAL_MAX) {
    throw bad(input, `the name is longer than ${NAME_TOTAL_MAX} characters`);
  }
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: RegistryReference = { transport: 'registry', registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function validateHost(host: string, input: string): void {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end === -1) throw bad(input, `registry host "${host}" has an unclosed "["`);
    const v6 = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(v6) || !v6.includes(':')) throw bad(input, `registry host "${host}" is not a valid IPv6 address`);
    const after = host.slice(end + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad(input, `registry host "${host}" has text after "]"`);
      port = after.slice(1);
    }
  } else {
    const c = host.lastIndexOf(':');
    if (c !== -1) { name = host.slice(0, c); port = host.slice(c + 1); }
    if (name === '') throw bad(input, `registry host "${host}" has no name before the port`);
    for (const part of name.split('.')) {
      if (!DOMAIN_COMPONENT.test(part)) throw bad(input, `registry host "${host}" is not a valid host name`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535 || Number(port) === 0)) {
    throw bad(input, `registry port "${port}" in "${host}" is not a number from 1 to 65535`);
  }
}

/** Canonical text of a reference: docker.io/library/debian:latest, oci:DIR:TAG, docker-archive:FILE:REF. */
export function formatReference(r: ImageReference): string {
  switch (r.transport) {
    case 'registry':
      return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
    case 'oci':
      return `oci:${r.dir}${r.tag !== undefined ? `:${r.tag}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${r.file}${r.ref !== undefined ? `:${r.ref}` : ''}`;
  }
}

/** Docker's short form (what `docker images` and RepoTags show): debian:latest, arm32v7/debian:bookworm. */
export function familiarName(r: RegistryReference): string {
  let name = `${r.registry}/${r.repository}`;
  if (r.registry === DOCKER_HUB) {
    name = r.repository.startsWith('library/') && r.repository.split('/').length === 2
      ? r.repository.slice('library/'.length)
      : r.repository;
  }
  return `${name}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

