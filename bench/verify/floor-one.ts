// Child process of the benchmark: the floor of what verify must do on an OCI
// layout, written with standard parts only (none of xbuild's readers): read
// every layer blob of the first manifest, sha256 it, decompress it (zlib's
// gunzip, or fzstd for zstd), sha256 the tar (diff_id) and walk its headers
// with tar-stream, draining the contents. Prints one JSON line.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import tar from 'tar-stream';

const dir = process.argv[2]!;
const blob = (digest: string) => join(dir, 'blobs', ...digest.split(':'));
const json = async (digest: string) => JSON.parse(await readFile(blob(digest), 'utf8'));

function zstdStream(): Transform {
  const t = new Transform({ transform(chunk, _e, cb) { d.push(chunk); cb(); }, flush(cb) { d.push(new Uint8Array(0), true); cb(); } });
  const d = new Decompress((data) => { t.push(Buffer.from(data)); });
  return t;
}

async function walk(layer: { digest: string; mediaType: string }): Promise<{ entries: number; bytes: number }> {
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const source = createReadStream(blob(layer.digest), { highWaterMark: 1 << 20 });
  source.on('data', (c) => blobHash.update(c));
  const plain: Readable = source.pipe(layer.mediaType.includes('zstd') ? zstdStream() : createGunzip({ chunkSize: 256 * 1024 }));
  plain.on('data', (c) => tarHash.update(c));
  const extract = tar.extract();
  let entries = 0, bytes = 0;
  extract.on('entry', (header, stream, next) => {
    entries++;
    bytes += header.size ?? 0;
    stream.on('end', next);
    stream.resume();
  });
  plain.pipe(extract);
  await new Promise<void>((resolve, reject) => { extract.on('finish', resolve); extract.on('error', reject); plain.on('error', reject); });
  if (`sha256:${blobHash.digest('hex')}` !== layer.digest) throw new Error(`digest mismatch in ${layer.digest}`);
  tarHash.digest('hex');
  return { entries, bytes };
}

const t0 = performance.now();
const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
const manifest = await json(index.manifests[0].digest);
let entries = 0, bytes = 0;
for (const layer of manifest.layers) {
  const s = await walk(layer);
  entries += s.entries;
  bytes += s.bytes;
}
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, entries, bytes }));
