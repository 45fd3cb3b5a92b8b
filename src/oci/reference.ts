// One syntax for every image name xbuild accepts (skopeo transport style):
//   debian, arm32v7/debian:bookworm, localhost:5000/x@sha256:...   registry
//   oci:DIR[:TAG]                                                   OCI image layout
//   docker-archive:FILE[:REF]                                       docker save tarball
// Registry names are normalised as Docker does (debian -> docker.io/library/debian:latest).

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
