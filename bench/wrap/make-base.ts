// Generates a linux/arm/v7 base image as an OCI layout with `mib` MiB of
// incompressible content spread over layers of at most 100 MiB (gzip level 1),
// streaming: memory stays small whatever the size.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

interface Blob { digest: string; size: number }

function hashTap(h: ReturnType<typeof createHash>, counter?: { n: number }) {
  return new Transform({ transform(c: Buffer, _e, cb) { h.update(c); if (counter) counter.n += c.length; cb(null, c); } });
}

async function writeLayer(dir: string, name: string, bytes: number): Promise<Blob & { diffId: string }> {
  const tmp = join(dir, 'blobs', 'sha256', `.tmp-${name}`);
  const diff = createHash('sha256'); const comp = createHash('sha256'); const size = { n: 0 };
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, hashTap(diff), createGzip({ level: 1 }), hashTap(comp, size), createWriteStream(tmp));
  await new Promise<void>((res, rej) => {
    const w = pack.entry({ name: `data/${name}.bin`, size: bytes, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, (e) => (e ? rej(e) : res()));
    let left = bytes;
    Readable.from((function* () { while (left > 0) { const n = Math.min(left, 1 << 20); left -= n; yield randomBytes(n); } })()).pipe(w);
  });
  pack.finalize();
  await done;
  const hex = comp.digest('hex');
  await rename(tmp, join(dir, 'blobs', 'sha256', hex));
  return { digest: `sha256:${hex}`, size: size.n, diffId: `sha256:${diff.digest('hex')}` };
}

async function writeJson(dir: string, v: unknown): Promise<Blob> {
  const b = Buffer.from(JSON.stringify(v));
  const hex = createHash('sha256').update(b).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hex), b);
  return { digest: `sha256:${hex}`, size: b.length };
}

export async function makeBase(dir: string, mib: number): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'blobs', 'sha256'), { recursive: true });
  const layers = [];
  for (let left = mib, i = 0; left > 0; i++) {
    const n = Math.min(left, 100);
    layers.push(await writeLayer(tmp, `layer${i}`, n * 1024 * 1024));
    left -= n;
  }
  const config = await writeJson(tmp, {
    architecture: 'arm', variant: 'v7', os: 'linux', config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `bench layer ${i}` })),
  });
  const manifest = await writeJson(tmp, {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  });
  await writeFile(join(tmp, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(tmp, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}
