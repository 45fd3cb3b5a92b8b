// Layer compression (src/layer/compression.ts, zstd.ts, zstd-frames.ts)
// against the reference zstd CLI: what `zstd` writes, xbuild reads; what
// xbuild writes, `zstd -d` reads back byte for byte. Media types, diff_id
// checks and the window bound on bytes made by the real tool.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { XbuildError } from '../src/errors.ts';
import { buildLayer } from '../src/layer/build.ts';
import { compressor, decompressBlob, layerCompression, layerMediaType, openLayerTar, annotationsForRewrite } from '../src/layer/compression.ts';
import { walkTar, type WalkEntry } from '../src/layer/walk.ts';
import { ZstdFrameScanner } from '../src/layer/zstd-frames.ts';
import { ZSTD_FRAME_INPUT, ZSTD_LEVEL, ZstdCompress } from '../src/layer/zstd.ts';
import type { Layer } from '../src/oci/model.ts';
import { tarOf } from './helpers/mem-image.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const zstdCli = (args: string[], input: Buffer) => execFileSync('zstd', args, { input, maxBuffer: 1 << 28 });

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Feed `blob` in pieces (frame and block headers split across chunks). */
function chunked(blob: Buffer, size = 1001): Readable {
  return Readable.from((function* () { for (let i = 0; i < blob.length; i += size) yield blob.subarray(i, i + size); })());
}

function layerOf(blob: Buffer, tar: Buffer, mediaType: string, diffId = sha(tar)): Layer {
  return { descriptor: { mediaType, digest: sha(blob), size: blob.length }, diffId, open: async () => Readable.from([blob]) };
}

async function sampleTar(): Promise<Buffer> {
  return tarOf([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/tool', content: randomBytes(300_000), mode: 0o755 },
    { name: 'etc/text', content: 'hello\n'.repeat(50_000) },
    { name: 'bin/sh', type: 'symlink', linkname: 'tool' },
  ]);
}

async function walkNames(s: Readable, label?: string): Promise<string[]> {
  const names: string[] = [];
  await walkTar(s, (e: WalkEntry) => { names.push(`${e.kind}:${e.path}`); }, label);
  return names;
}

const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

test('a tar+zstd layer written by the zstd CLI: entries read, digest and diff_id checked', async (t) => {
  const tar = await sampleTar();
  const blob = zstdCli(['-3', '-c', '--check'], tar);
  const names = await walkNames(await openLayerTar(layerOf(blob, tar, OCI_ZSTD), 'layer 1/1'));
  t.deepEqual(names, ['dir:bin', 'file:bin/tool', 'file:etc/text', 'symlink:bin/sh']);
});

test('decoder equals `zstd -d` on multi-frame streams with skippable frames between and after (zstd:chunked framing), fed in 1001-byte pieces', async (t) => {
  const a = Buffer.from('first part '.repeat(20_000));
  const b = randomBytes(200_000);
  const skippable = (n: number, size: number) => { const h = Buffer.alloc(8); h.writeUInt32LE(0x184d2a50 + n, 0); h.writeUInt32LE(size, 4); return Buffer.concat([h, randomBytes(size)]); };
  const blob = Buffer.concat([zstdCli(['-19', '-c'], a), skippable(0, 1000), zstdCli(['-1', '-c', '--no-check'], b), skippable(15, 64)]);
  const oracle = execFileSync('zstd', ['-dc'], { input: blob, maxBuffer: 1 << 26 });
  t.deepEqual(oracle, Buffer.concat([a, b]));
  t.deepEqual(await collect(await decompressBlob(chunked(blob))), oracle);
});

test('what xbuild writes as zstd, `zstd -d` reads back: empty, small, and many frames (64 KiB of input each here, 4 MiB in use); deterministic', async (t) => {
  const big = Buffer.concat([randomBytes(100_000), Buffer.alloc(300_000, 'x')]);
  const cases: [Buffer, () => Transform][] = [[Buffer.alloc(0), () => compressor('zstd')], [Buffer.from('tiny'), () => compressor('zstd')], [big, () => new ZstdCompress(ZSTD_LEVEL, 65536)]];
  for (const [input, make] of cases) {
    const z1 = await collect(Readable.from([input]).pipe(make()));
    const z2 = await collect(chunked(input, 10_007).pipe(make()));
    t.is(sha(z1), sha(z2), 'same bytes whatever the input chunking');
    t.deepEqual(execFileSync('zstd', ['-dc'], { input: z1, maxBuffer: 1 << 26 }), input);
    t.deepEqual(await collect(await decompressBlob(Readable.from([z1]))), input);
  }
  const z = await collect(Readable.from([big]).pipe(new ZstdCompress(ZSTD_LEVEL, 65536)));
  t.true(z.length < 120_000, `compressed ${big.length} -> ${z.length}`);
  t.is(ZSTD_FRAME_INPUT, 4 << 20);
});

test('a frame asking for more than a 128 MiB window (zstd --long=30 on a stream) is refused before any allocation', async (t) => {
  const tar = await sampleTar();
  const blob = execFileSync('sh', ['-c', 'cat | zstd --long=30 -c'], { input: tar, maxBuffer: 1 << 26 });
  const err = await t.throwsAsync(walkNames(await openLayerTar(layerOf(blob, tar, OCI_ZSTD), 'layer 1/1'), 'layer 1/1'));
  t.regex(err!.message, /^layer 1\/1: not a readable tar layer \(zstd frame at byte 0 needs a 1024 MiB window, more than the 128 MiB xbuild allows\)$/);
});

test('truncated zstd: INVALID_IMAGE naming the layer', async (t) => {
  const tar = await sampleTar();
  const blob = zstdCli(['-c'], tar);
  const cut = blob.subarray(0, blob.length - 100);
  const err = await t.throwsAsync(walkNames(await decompressBlob(Readable.from([cut]), 'layer 2/3'), 'layer 2/3'));
  t.is((err as XbuildError).code, 'INVALID_IMAGE');
  t.regex(err!.message, /^layer 2\/3: not a readable tar layer/);
});

test('uncompressed content that does not match the diff_id: DIGEST_MISMATCH, also when bytes follow the end-of-archive blocks', async (t) => {
  const tar = Buffer.concat([await sampleTar(), Buffer.alloc(10240)]); // GNU tar pads to its record size
  const blob = zstdCli(['-c'], tar);
  t.deepEqual((await walkNames(await openLayerTar(layerOf(blob, tar, OCI_ZSTD)))).length, 4);
  const wrong = sha(tar.subarray(0, tar.length - 512));
  const err = await t.throwsAsync(walkNames(await openLayerTar(layerOf(blob, tar, OCI_ZSTD, wrong), 'layer 1/1')));
  t.is((err as XbuildError).code, 'DIGEST_MISMATCH');
  t.regex(err!.message, /uncompressed layer 1\/1 \(diff_id\) does not match/);
});

test('media types: tar, tar+gzip, tar+zstd (OCI, Docker, non-distributable) read; anything else is one line naming the type', async (t) => {
  const tar = await sampleTar();
  const cases: [string, Buffer][] = [
    ['application/vnd.oci.image.layer.v1.tar', tar],
    ['application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(tar)],
    [OCI_ZSTD, zstdCli(['-c'], tar)],
    ['application/vnd.docker.image.rootfs.diff.tar', tar],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', gzipSync(tar)],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', zstdCli(['-c'], tar)],
    ['application/vnd.oci.image.layer.v1.tar+gzip', zstdCli(['-c'], tar)], // mislabelled: read by its bytes, as docker and containerd do
  ];
  for (const [mt, blob] of cases) t.is((await walkNames(await openLayerTar(layerOf(blob, tar, mt)))).length, 4, mt);
  const err = t.throws(() => layerCompression('application/vnd.oci.image.layer.v1.tar+lz4', 'layer 3/4 sha256:abc'));
  t.is((err as XbuildError).code, 'UNSUPPORTED');
  t.is(err!.message, 'layer 3/4 sha256:abc has media type "application/vnd.oci.image.layer.v1.tar+lz4", which is not a layer format xbuild reads (tar, tar+gzip and tar+zstd (zstd:chunked included), OCI and Docker media types)');
  await t.throwsAsync(openLayerTar(layerOf(tar, tar, 'application/vnd.in-toto+json')), { message: /media type "application\/vnd.in-toto\+json"/ });
});

test('buildLayer keeps a chosen compression: zstd layer whose diff_id and digest check out; Docker manifests have no zstd type', async (t) => {
  const entries = [{ path: 'etc/x', type: 'file' as const, mode: 0o644, content: Buffer.from('x'.repeat(100_000)) }];
  const l = await buildLayer(entries, { compression: 'zstd' });
  t.is(l.descriptor.mediaType, OCI_ZSTD);
  const blob = await collect(await l.open());
  t.is(sha(blob), l.descriptor.digest);
  t.is(sha(execFileSync('zstd', ['-dc'], { input: blob })), l.diffId);
  t.deepEqual(await walkNames(await openLayerTar(l)), ['dir:etc', 'file:etc/x']);
  t.is((await buildLayer(entries, { compression: 'zstd' })).descriptor.digest, l.descriptor.digest, 'deterministic');
  t.is(layerMediaType('none', 'application/vnd.docker.distribution.manifest.v2+json'), 'application/vnd.docker.image.rootfs.diff.tar');
  t.throws(() => layerMediaType('zstd', 'application/vnd.docker.distribution.manifest.v2+json'), { message: /no zstd layer type/ });
  t.deepEqual(annotationsForRewrite({ annotations: { 'io.containers.zstd-chunked.manifest-checksum': 'sha256:x', 'io.containers.zstd-chunked.manifest-position': '1:2:3:1', keep: 'me' } }), { keep: 'me' });
});

test('frame scanner: headers split at every byte boundary still parse; skippable frames are reported with their offsets', (t) => {
  const a = zstdCli(['-c'], Buffer.from('abc'.repeat(1000)));
  const skip = Buffer.alloc(8 + 5); skip.writeUInt32LE(0x184d2a5f, 0); skip.writeUInt32LE(5, 4);
  const blob = Buffer.concat([a, skip, a]);
  const seen: [number, number][] = [];
  const s = new ZstdFrameScanner({ skippable: (o, n) => seen.push([o, n]) });
  for (let i = 0; i < blob.length; i++) { s.push(blob.subarray(i, i + 1)); }
  t.true(s.atBoundary());
  t.deepEqual(seen, [[a.length, 5]]);
  const bad = new ZstdFrameScanner();
  t.throws(() => bad.push(Buffer.from('not zstd')), { message: /not a zstd frame at byte 0/ });
});
