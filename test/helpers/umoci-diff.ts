// Differential oracle: write a layer stack as an OCI layout, unpack it with
// the real `umoci unpack` (Go archive/tar + filepath-securejoin), and compare
// its root file system with the view verify computes from the same layout
// (through openImage + collectImageView, the code verify runs).
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { openImage } from '../../src/open/open.ts';
import { collectImageView } from '../../src/verify/collect.ts';

const run = promisify(execFile);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface LayerSpec {
  tar: Buffer;
  /** Store uncompressed (media type ...tar) instead of gzip. */
  plain?: boolean;
  /** Bytes appended after the gzip stream. */
  gzTail?: Buffer;
  /** diff_id to put in the config instead of the right one. */
  diffId?: string;
  /** Compress with the zstd CLI (media type ...tar+zstd) instead of gzip. */
  zstd?: boolean;
  /** Layer descriptor annotations. */
  annotations?: Record<string, string>;
}

export interface StackSpec { layers: LayerSpec[]; architecture?: string; variant?: string }

/** Write the stack as an OCI image layout at `dir`, tag "t". */
export async function writeLayout(dir: string, spec: StackSpec): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => { const h = sha(b); await writeFile(join(dir, 'blobs', 'sha256', h), b); return { digest: `sha256:${h}`, size: b.length }; };
  const layers = []; const diffIds = [];
  for (const l of spec.layers) {
    const blob = l.plain ? l.tar : l.zstd ? execFileSync('zstd', ['-q', '-c'], { input: l.tar }) : Buffer.concat([gzipSync(l.tar), l.gzTail ?? Buffer.alloc(0)]);
    layers.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${l.plain ? '' : l.zstd ? '+zstd' : '+gzip'}`, ...await put(blob), ...(l.annotations ? { annotations: l.annotations } : {}) });
    diffIds.push(l.diffId ?? `sha256:${sha(l.tar)}`);
  }
  const config = Buffer.from(JSON.stringify({
    architecture: spec.architecture ?? 'arm', ...(spec.variant ?? 'v7' ? { variant: spec.variant ?? 'v7' } : {}), os: 'linux',
    config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: spec.layers.map(() => ({ created_by: 'test' })),
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...await put(config) }, layers,
  }));
  const m = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 't' } }],
  }));
}

/** path (latin1, relative) -> "dir" | "file:<sha>" | "symlink:<target>" | "other" */
export type Listing = Map<string, string>;
export type Outcome = { ok: true; files: Listing } | { ok: false; error: string };

async function listTree(root: string): Promise<Listing> {
  const out: Listing = new Map();
  const walk = async (abs: Buffer, rel: string) => {
    for (const name of await readdir(abs, { encoding: 'buffer' })) {
      const a = Buffer.concat([abs, Buffer.from('/'), name]);
      const r = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      const st = await lstat(a);
      if (st.isDirectory()) { out.set(r, 'dir'); await walk(a, r); } else if (st.isSymbolicLink()) out.set(r, `symlink:${(await readlink(a, { encoding: 'buffer' })).toString('latin1')}`);
      else if (st.isFile()) out.set(r, `file:${sha(await readFile(a))}`);
      else out.set(r, 'other');
    }
  };
  await walk(Buffer.from(root), '');
  return out;
}

export async function unpackWithUmoci(layout: string, work: string): Promise<Outcome> {
  const bundle = join(work, 'bundle');
  try {
    await run('umoci', ['unpack', '--image', `${layout}:t`, bundle], { maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { ok: false, error: (e.stderr || e.message).trim().split('\n').pop()!.slice(0, 300) };
  }
  return { ok: true, files: await listTree(join(bundle, 'rootfs')) };
}

export async function unpackWithXbuild(layout: string): Promise<Outcome> {
  try {
    const img = await openImage(`oci:${layout}:t`, { env: {} });
    if (img.kind !== 'image') throw new Error('expected an image');
    const { view } = await collectImageView(await img.layers(), { keep: () => true });
    const files: Listing = new Map();
    for (const p of view.paths()) {
      const n = view.get(p)!;
      files.set(p, n.kind === 'dir' ? 'dir' : n.kind === 'symlink' ? `symlink:${n.linkname}` : n.kind === 'file' ? `file:${n.content?.digest.replace('sha256:', '') ?? sha('')}` : 'other');
    }
    return { ok: true, files };
  } catch (err) {
    return { ok: false, error: (err as Error).message.slice(0, 300) };
  }
}

/** Differences between two outcomes, as lines (empty = agree). */
export function compareOutcomes(theirs: Outcome, ours: Outcome): string[] {
  if (!theirs.ok || !ours.ok) {
    if (theirs.ok === ours.ok) return [];
    return [`umoci ${theirs.ok ? 'unpacked' : `failed (${theirs.error})`}, xbuild ${ours.ok ? 'unpacked' : `failed (${ours.error})`}`];
  }
  const diff: string[] = [];
  const show = (p: string) => JSON.stringify(p);
  for (const [p, v] of theirs.files) if (ours.files.get(p) !== v) diff.push(`${show(p)}: umoci ${v}, xbuild ${ours.files.get(p) ?? 'absent'}`);
  for (const [p, v] of ours.files) if (!theirs.files.has(p)) diff.push(`${show(p)}: umoci absent, xbuild ${v}`);
  return diff;
}

/** Write, unpack both ways, compare; cleans up. */
export async function diffStack(spec: StackSpec): Promise<{ diff: string[]; theirs: Outcome; ours: Outcome }> {
  const work = await mkdtemp(join(tmpdir(), 'xbuild-umoci-'));
  try {
    const layout = join(work, 'layout');
    await writeLayout(layout, spec);
    const theirs = await unpackWithUmoci(layout, work);
    const ours = await unpackWithXbuild(layout);
    return { diff: compareOutcomes(theirs, ours), theirs, ours };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
