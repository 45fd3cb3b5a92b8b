// Media types xbuild reads and writes (OCI image spec and Docker v2 schema 2).

export const OCI_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_TAR_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_TAR_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
export const DOCKER_FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

/** Annotation keys of the OCI image spec that wrap and the layout code use. */
export const ANNOTATION_BASE_NAME = 'org.opencontainers.image.base.name';
export const ANNOTATION_BASE_DIGEST = 'org.opencontainers.image.base.digest';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** BuildKit marks attestation manifests in an index with this annotation. */
export const ANNOTATION_DOCKER_REFERENCE_TYPE = 'vnd.docker.reference.type';

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === OCI_IMAGE_INDEX || mt === DOCKER_MANIFEST_LIST;
}

export function isImageManifestMediaType(mt: string | undefined): boolean {
  return mt === OCI_IMAGE_MANIFEST || mt === DOCKER_MANIFEST_V2;
}

export function isDockerMediaType(mt: string | undefined): boolean {
  return typeof mt === 'string' && mt.startsWith('application/vnd.docker.');
}

/** The media type of a gzip layer in a manifest of the given media type (OCI vs Docker family). */
export function gzipLayerMediaTypeFor(manifestMediaType: string): string {
  return isDockerMediaType(manifestMediaType) ? DOCKER_LAYER_TAR_GZIP : OCI_LAYER_TAR_GZIP;
}

