// OCI image layout (image-spec "image-layout.md"): oci-layout, index.json,
// blobs/sha256/<hex>. Read by skopeo/podman/crane as `oci:DIR[:TAG]`.
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Descriptor, ImageIndex, ImageOrIndex } from '../oci/model.ts';
import { ANNOTATION_REF_NAME, OCI_IMAGE_INDEX } from '../oci/media-types.ts';
import { checkDescriptor } from '../oci/manifest.ts';
import { XbuildError, wrapError } from '../errors.ts';
import type { OnProgress } from '../progress.ts';
import { noProgress } from '../progress.ts';
import { algorithmOf, digestHex, verifying } from '../oci/digest.ts';
import { openFromStore, type BlobStore } from '../oci/store-image.ts';
import { collectBlobs, descriptorOf } from '../oci/walk.ts';

const LAYOUT_FILE = 'oci-layout';
const LAYOUT_VERSION = '1.0.0';

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', algorithmOf(digest), digestHex(digest));
}

export function ociLayoutStore(dir: string): BlobStore {
  return {
    open: async (desc) => {
      const p = blobPath(dir, desc.digest);
      const s = await lstat(p).catch(() => undefined);
      if (!s) throw new XbuildError('NOT_FOUND', `blob ${desc.digest} is missing from the OCI layout ${dir}`);
      // A FIFO or device would block or never end: only regular files are blobs.
      if (!s.isFile()) throw new XbuildError('INVALID_IMAGE', `blob ${desc.digest} in the OCI layout ${dir} is not a regular file`);
      return verifying(createReadStream(p, { highWaterMark: 1 << 20 }), desc, `blob ${desc.digest} in ${dir}`);
    },
  };
}

async function readIndexJson(dir: string): Promise<ImageIndex> {
  let layoutText: string;
  try { layoutText = await readFile(join(dir, LAYOUT_FILE), 'utf8'); } catch {
    throw new XbuildError('NOT_FOUND', `${dir} is not an OCI image layout (no ${LAYOUT_FILE} file)`, {
      hint: 'oci:DIR names a directory written by skopeo/buildah/xbuild (oci-layout, index.json, blobs/)',
    });
  }
  try {
    const v = JSON.parse(layoutText) as { imageLayoutVersion?: string };
    if (typeof v.imageLayoutVersion !== 'string') throw new Error('no version');
  } catch { throw new XbuildError('INVALID_IMAGE', `${dir}/${LAYOUT_FILE} is not a valid layout marker`); }
  let idx: ImageIndex;
  try { idx = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex; } catch (e) {
    throw new XbuildError('INVALID_IMAGE', `${dir}/index.json is missing or not valid JSON`, { cause: e });
  }
  if (!idx || !Array.isArray(idx.manifests)) throw new XbuildError('INVALID_IMAGE', `${dir}/index.json has no manifests array`);
  // Entries are checked when one is opened: a malformed descriptor breaks only itself, not every tag.
  return idx;
}

/** An index.json entry's tag (org.opencontainers.image.ref.name), read without trusting the entry's shape. */
function refName(m: unknown): string | undefined {
  const a = typeof m === 'object' && m !== null ? (m as { annotations?: unknown }).annotations : undefined;
  const t = typeof a === 'object' && a !== null ? (a as Record<string, unknown>)[ANNOTATION_REF_NAME] : undefined;
  return typeof t === 'string' ? t : undefined;
}

/** Open `oci:DIR[:TAG]`: the entry named TAG, or the only entry when no tag is given. */
export async function readOciLayout(dir: string, tag?: string): Promise<ImageOrIndex> {
  const idx = await readIndexJson(dir);
  const name = `oci:${dir}${tag ? `:${tag}` : ''}`;
  let at: number;
  if (tag) {
    at = idx.manifests.findIndex((m) => refName(m) === tag);
    if (at < 0) {
      const tags = idx.manifests.map(refName).filter(Boolean);
      throw new XbuildError('NOT_FOUND', `no image tagged "${tag}" in the OCI layout ${dir}`, {
        hint: tags.length ? `tags there: ${tags.join(', ')}` : 'the layout has no tagged images; use oci:DIR without a tag',
      });
    }
  } else {
    if (idx.manifests.length !== 1) {
      const tags = idx.manifests.map((m, i) => refName(m) ?? String((m as Partial<Descriptor> | null)?.digest ?? `manifests[${i}]`).slice(0, 80));
      throw new XbuildError(idx.manifests.length === 0 ? 'NOT_FOUND' : 'USAGE',
        idx.manifests.length === 0 ? `the OCI layout ${dir} holds no image` : `the OCI layout ${dir} holds ${idx.manifests.length} images; name one`,
        idx.manifests.length === 0 ? {} : { hint: `use oci:${dir}:TAG with one of: ${tags.join(', ')}` });
    }
    at = 0;
  }
  const entry = checkDescriptor(idx.manifests[at], `${dir}/index.json manifests[${at}]`);
  return openFromStore(ociLayoutStore(dir), entry, name);
}

export interface WriteResult { digest: string; mediaType: string; size: number }

/** Write one blob atomically (temp file + rename), verifying its digest while writing. Skips existing blobs. */
async function writeBlob(dir: string, desc: Descriptor, open: () => Promise<Readable>, onProgress: OnProgress): Promise<void> {
  const p = blobPath(dir, desc.digest);
  const label = desc.digest.slice(7, 19);
  // "Exists" is not "is right": an existing blob is kept only when its bytes hash to its digest.
  const s = await lstat(p).catch(() => undefined);
  if (s && s.isFile() && s.size === desc.size && await hashFile(p) === desc.digest) {
    onProgress({ kind: 'done', id: desc.digest, label, note: 'Already exists' }); return;
  }
  const tmp = `${p}.tmp-${randomBytes(6).toString('hex')}`;
  let done = 0;
  try {
    const src = verifying(await open(), desc, `blob ${desc.digest}`);
    src.on('data', (c: Buffer) => { done += c.length; onProgress({ kind: 'bytes', id: desc.digest, label, done, total: desc.size }); });
    await pipeline(src, createWriteStream(tmp));
    await rename(tmp, p);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  onProgress({ kind: 'done', id: desc.digest, label, note: 'Written' });
}

/**
 * Write `root` into the OCI layout at `dir`, tagged `tag` (org.opencontainers.image.ref.name).
 * A new directory is built beside the destination and renamed into place; an existing
 * layout gets its blobs added (each atomically) and index.json replaced atomically last,
 * so readers never see a half-written image.
 */
export async function writeOciLayout(dir: string, root: ImageOrIndex, opts: { tag?: string; onProgress?: OnProgress } = {}): Promise<WriteResult> {
  const onProgress = opts.onProgress ?? noProgress;
  const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
  let existing: ImageIndex | undefined;
  if (exists) {
    const hasLayout = await stat(join(dir, LAYOUT_FILE)).then(() => true, () => false);
    if (hasLayout) existing = await readIndexJson(dir);
    else if (!(await isEmptyDir(dir))) {
      throw new XbuildError('IO', `${dir} exists and is not an OCI image layout; refusing to write into it`, { hint: 'name a new or empty directory, or an existing OCI layout' });
    }
  }
  const work = existing ? dir : join(dirname(dir), `.${basename(dir)}.xbuild-tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(join(work, 'blobs', 'sha256'), { recursive: true });
    if (!existing) await writeFile(join(work, LAYOUT_FILE), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    for (const b of await collectBlobs(root)) await writeBlob(work, b.desc, b.open, onProgress);
    const desc = await descriptorOf(root);
    const entry: Descriptor = { ...desc, ...(opts.tag ? { annotations: { [ANNOTATION_REF_NAME]: opts.tag } } : {}) };
    const keep = (existing?.manifests ?? []).filter((m) => {
      const t = refName(m);
      return opts.tag ? t !== opts.tag : t !== undefined;
    });
    const index: ImageIndex = { schemaVersion: 2, mediaType: OCI_IMAGE_INDEX, manifests: [...keep, entry] };
    const tmpIndex = join(work, `.index.json.tmp-${randomBytes(6).toString('hex')}`);
    await writeFile(tmpIndex, JSON.stringify(index));
    await rename(tmpIndex, join(work, 'index.json'));
    if (!existing) {
      if (exists) await rm(dir, { recursive: true, force: true });
      await rename(work, dir);
    }
    return { digest: desc.digest, mediaType: desc.mediaType, size: desc.size };
  } catch (e) {
    if (!existing) await rm(work, { recursive: true, force: true });
    throw wrapError(`writing the OCI layout ${dir}`, e);
  }
}

async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function isEmptyDir(dir: string): Promise<boolean> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(dir)).length === 0;
}
