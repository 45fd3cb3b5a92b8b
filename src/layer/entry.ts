import type { Readable } from 'node:stream';

/** One entry of a layer xbuild builds (the layer builder sorts and normalises them). */
export interface LayerEntry {
  /** Path inside the image, relative, no leading slash: "usr/bin/cross-build-start". */
  path: string;
  type: 'file' | 'symlink' | 'dir';
  mode: number;                 // permission bits, e.g. 0o755
  /** file: content, as bytes or as an opener returning a fresh stream (then size is required). */
  content?: Buffer | (() => Promise<Readable>);
  size?: number;
  /** Owner and mtime (seconds); default 0, 0 and the layer's SOURCE_DATE_EPOCH. */
  uid?: number;
  gid?: number;
  mtime?: number;
  /** symlink target. */
  linkname?: string;
}
