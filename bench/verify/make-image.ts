// Generates the benchmark images as OCI layouts, streaming (memory stays
// small even for the large one). Layers: a Debian-like armhf root made of
// real Debian binaries, the xbuild layer (real shim, stand-in or real
// emulator: test/helpers/verify-images.ts), then `bulkMiB` of extra content
// spread over bulk layers: ARM ELF copies in usr/bin (verify captures and
// inspects each), large x86_64 ELF files elsewhere, and incompressible data.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack, type Pack } from 'tar-stream';
import { elfSample } from '../../test/helpers/elf-samples.ts';
import { debianLikeRoot, xbuildLayer, xbuildParts } from '../../test/helpers/verify-images.ts';
import type { TarSpec } from '../../test/helpers/mem-image.ts';

interface Blob { digest: string; size: number; diffId?: string }

const sha = () => createHash('sha256');

async function writeBlob(dir: string, data: Buffer): Promise<Blob> {
  const hex = sha().update(data).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

type Producer = (p: Pack) => Promise<void>;

/** tar (producer) -> diffId hash -> gzip -> digest hash -> blobs/sha256/<digest>. */
async function writeLayer(dir: string, produce: Producer): Promise<Blob> {
  const tmp = join(dir, 'blobs', 'sha256', `tmp-${process.pid}-${Date.now()}`);
  const diff = sha(); const comp = sha(); let size = 0;
  const p = tarPack();
  const tap = (h: ReturnType<typeof sha>, count: boolean) => new Transform({
    transform(chunk: Buffer, _e, cb) { h.update(chunk); if (count) size += chunk.length; cb(null, chunk); },
  });
  const done = pipeline(p as unknown as NodeJS.ReadableStream, tap(diff, false), createGzip({ level: 1 }), tap(comp, true), createWriteStream(tmp));
  await produce(p);
  p.finalize();
  await done;
  const hex = comp.digest('hex');
  await rename(tmp, join(dir, 'blobs', 'sha256', hex));
  return { digest: `sha256:${hex}`, size, diffId: `sha256:${diff.digest('hex')}` };
}

function entry(p: Pack, e: TarSpec): Promise<void> {
  const type = e.type ?? 'file';
  const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
  return new Promise((resolve, reject) => {
    const header = { name: e.name, type, mode: e.mode ?? 0o644, linkname: e.linkname, mtime: new Date(0), uid: 0, gid: 0, size: type === 'file' ? content.length : 0 };
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (type === 'file') p.entry(header, content, cb); else p.entry(header, cb);
  });
}

/** A file of `size` random bytes, written in 1 MiB chunks (never held whole). */
async function randomFile(p: Pack, name: string, size: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = p.entry({ name, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
    const src = new PassThrough();
    src.pipe(s as unknown as NodeJS.WritableStream);
    (async () => {
      for (let left = size; left > 0;) {
        const n = Math.min(left, 1 << 20);
        if (!src.write(randomBytes(n))) await new Promise((r) => src.once('drain', r));
        left -= n;
      }
      src.end();
    })().catch(reject);
  });
}

export interface BenchImage { dir: string; compressedBytes: number; uncompressedApprox: number }

export async function makeImage(dir: string, bulkMiB: number): Promise<BenchImage> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const root = await debianLikeRoot('armhf');
  const layers: Blob[] = [];
  layers.push(await writeLayer(dir, async (p) => { for (const e of root) await entry(p, e); }));
  const parts = await xbuildParts('arm');
  const xl = await xbuildLayer(parts);
  layers.push(await writeLayer(dir, async (p) => { for (const e of xl) await entry(p, e); }));
  let approx = 0;
  if (bulkMiB > 0) {
    const dyn = await readFile(await elfSample('amd64/qemu-arm'));          // 3 MB ELF, dynamic
    const big = await readFile(await elfSample('amd64/qemu-aarch64-static')); // 12 MB ELF, > whole-file limit
    const armBusybox = await readFile(await elfSample('armhf/busybox'));
    const armDash = await readFile(await elfSample('armhf/dash'));
    const target = bulkMiB << 20;
    const perLayer = 256 << 20;
    for (let layerNo = 0; approx < target; layerNo++) {
      const start = approx;
      layers.push(await writeLayer(dir, async (p) => {
        let i = 0;
        while (approx < target && approx - start < perLayer) {
          const k = i++ % 8;
          if (k === 0) { await entry(p, { name: `usr/libexec/bench/${layerNo}-${i}`, content: big, mode: 0o755 }); approx += big.length; }
          else if (k === 1) { await entry(p, { name: `usr/libexec/bench/${layerNo}-${i}`, content: dyn, mode: 0o755 }); approx += dyn.length; }
          else if (k < 4) { await entry(p, { name: `usr/bin/bench-${layerNo}-${i}`, content: k === 2 ? armBusybox : armDash, mode: 0o755 }); approx += armBusybox.length; }
          else { await randomFile(p, `usr/share/bench/${layerNo}/${i}.bin`, 8 << 20); approx += 8 << 20; }
        }
      }));
    }
  }
  const config = {
    architecture: 'arm', variant: 'v7', os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId!) },
    history: layers.map(() => ({ created_by: 'xbuild bench' })),
  };
  const cfg = await writeBlob(dir, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  };
  const m = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)));
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: manifest.mediaType, ...m, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, compressedBytes: layers.reduce((a, l) => a + l.size, 0), uncompressedApprox: approx };
}
