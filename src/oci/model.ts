// The small image model every backend (registry, oci: layout, docker-archive:)
// implements and every operation (wrap, verify) consumes. Narrow, read-only,
// lazily computed, in the spirit of go-containerregistry's pkg/v1.
import type { Readable } from 'node:stream';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;          // "sha256:<hex>"
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  artifactType?: string;
}

/** Image manifest (OCI or Docker v2 schema 2; same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

/** Image index (OCI) or manifest list (Docker). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  created?: string;
  author?: string;
  config?: Record<string, unknown> & { Labels?: Record<string, string> | null; Env?: string[] };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

/** A blob source: every call returns a fresh stream (read once to hash, again to upload). */
export type Opener = () => Promise<Readable>;

export interface Layer {
  /** Descriptor as it appears in the manifest (compressed digest/size). */
  readonly descriptor: Descriptor;
  /** Uncompressed digest from the config's rootfs.diff_ids. */
  readonly diffId: string;
  /** The blob as stored (usually gzip), verified against digest and size at EOF. */
  open(): Promise<Readable>;
  /** Where the blob can be mounted from without re-upload (registry layers only). */
  readonly source?: { registry: string; repository: string };
}

export interface Image {
  readonly kind: 'image';
  /** Human-readable name for messages ("docker.io/arm32v7/debian:bookworm"). */
  readonly name: string;
  manifest(): Promise<ImageManifest>;
  /** Exact manifest bytes (digest is computed over these). */
  rawManifest(): Promise<Buffer>;
  mediaType(): Promise<string>;
  digest(): Promise<string>;
  config(): Promise<ImageConfig>;
  rawConfig(): Promise<Buffer>;
  layers(): Promise<Layer[]>;
}

export interface Index {
  readonly kind: 'index';
  readonly name: string;
  manifest(): Promise<ImageIndex>;
  rawManifest(): Promise<Buffer>;
  mediaType(): Promise<string>;
  digest(): Promise<string>;
  /** Open the child manifest that `desc` (an entry of manifests[]) points to. */
  child(desc: Descriptor): Promise<Image | Index>;
}

export type ImageOrIndex = Image | Index;
