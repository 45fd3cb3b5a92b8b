// `xbuild unwrap` of images whose layers are tar+zstd and zstd:chunked, as
// skopeo writes them: a build on a wrapped base with the classic lines (the
// cross-build-start and -end layers hold xbuild paths, so they must be
// rewritten) is written as an OCI layout with gzip layers, recompressed by
// `skopeo copy --dest-compress-format zstd` / `zstd:chunked`, and unwrapped
// through the CLI. The rewritten layers must be tar+zstd (media type and
// magic; zstd:chunked becomes plain zstd without its TOC annotations), decode
// with the reference `zstd -d` to the config's diff_id, and equal the gzip
// case's tars; untouched layers keep their digests; `verify --final` passes;
// skopeo copies the result (and re-encodes it to gzip); the merged file
// system equals the gzip case's; pushed to Debian's docker-registry it has the
// same digest and verifies from there. Uncompressed tar layers stay
// uncompressed likewise.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../src/cli/run.ts';
import { readOciLayout, writeOciLayout } from '../src/layout/oci-layout.ts';
import { isXbuildOwned } from '../src/contract/owned.ts';
import type { Image, ImageConfig, ImageManifest } from '../src/oci/model.ts';
import { ZSTD_MAGIC } from '../src/layer/zstd-frames.ts';
import { capture } from './helpers/capture.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';
import { buildOn } from './helpers/built-image.ts';
import { mergedFsOf, type FileFacts } from './helpers/merged-fs.ts';
import { appLayer, endLayer, startLayer, wrapped } from './helpers/unwrap-fixtures.ts';

const run = promisify(execFile);
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const CHUNKED_PREFIX = 'io.containers.zstd-chunked.';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let tmp = '';
let reg: TestRegistry | undefined;
let built = '';
let builtFs: Map<string, FileFacts>;
/** The gzip case, unwrapped: what the zstd cases must equal. */
let gzipOut: { layout: string; manifest: ImageManifest; config: ImageConfig; fs: Map<string, FileFacts> };

async function skopeo(args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', ['--insecure-policy', ...args], { env: { PATH: '/usr/bin:/bin', HOME: tmp } });
  return stdout;
}

async function xbuild(args: string[]) {
  const c = capture();
  c.ctx.env = { HOME: tmp, PATH: process.env.PATH };
  const code = await runCli([...args, '-q'], c.ctx);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

async function layout(dir: string, tag: string) {
  const img = await readOciLayout(dir, tag) as Image;
  const blob = (digest: string) => readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
  return { img, manifest: await img.manifest(), config: await img.config(), blob };
}

async function unwrapTo(src: string, name: string) {
  const dest = join(tmp, name);
  const r = await xbuild(['unwrap', src, '--output', `type=oci,dest=${dest}`, '-t', 'x/app:clean', '--json']);
  if (r.code !== 0) throw new Error(`unwrap ${src}: ${r.stderr}`);
  return { dest, report: JSON.parse(r.stdout) as { digest: string; platforms: { layers: Record<string, number> }[] } };
}

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-unwrap-zstd-'));
  reg = await startRegistry();
  // base, xbuild layer, RUN ["cross-build-start"], RUN build, RUN ["cross-build-end"]
  const img = await buildOn(await wrapped(false), [
    { createdBy: 'RUN ["cross-build-start"]', tar: await startLayer() },
    { createdBy: 'RUN build', tar: await appLayer() },
    { createdBy: 'RUN ["cross-build-end"]', tar: await endLayer() },
  ]);
  builtFs = await mergedFsOf(img);
  built = join(tmp, 'built');
  await writeOciLayout(built, img, { tag: '1' });
  const { dest, report } = await unwrapTo(`oci:${built}:1`, 'out-gzip');
  if (JSON.stringify(report.platforms[0]!.layers) !== JSON.stringify({ reused: 2, rewritten: 2, dropped: 1 })) throw new Error(`gzip case: ${JSON.stringify(report)}`);
  const g = await layout(dest, 'clean');
  gzipOut = { layout: dest, manifest: g.manifest, config: g.config, fs: await mergedFsOf(g.img) };
});
test.after.always(async () => { await reg?.stop(); if (tmp) await rm(tmp, { recursive: true, force: true }); });

test('the gzip case: rewritten layers stay tar+gzip; merged file system = built minus xbuild paths', (t) => {
  t.deepEqual(gzipOut.manifest.layers.map((l) => l.mediaType), [GZIP, GZIP, GZIP, GZIP]);
  t.deepEqual([...gzipOut.fs].sort(), [...builtFs].filter(([p]) => !isXbuildOwned(p)).sort());
});

for (const format of ['zstd', 'zstd:chunked'] as const) {
  test(`unwrap of ${format} layers written by skopeo: rewritten layers are tar+zstd, others keep their digests, verify --final and skopeo accept it, same files as the gzip case`, async (t) => {
    const name = format.replace(':', '-');
    const src = join(tmp, `in-${name}`);
    await skopeo(['copy', '--dest-compress-format', format, `oci:${built}:1`, `oci:${src}:1`]);
    const input = await layout(src, '1');
    t.deepEqual(input.manifest.layers.map((l) => l.mediaType), [ZSTD, ZSTD, ZSTD, ZSTD, ZSTD], 'skopeo wrote tar+zstd layers');
    if (format === 'zstd:chunked') {
      for (const l of input.manifest.layers) t.truthy(l.annotations?.[`${CHUNKED_PREFIX}manifest-position`], 'skopeo wrote zstd:chunked TOC annotations');
    }

    const { dest, report } = await unwrapTo(`oci:${src}:1`, `out-${name}`);
    t.deepEqual(report.platforms[0]!.layers, { reused: 2, rewritten: 2, dropped: 1 });
    const out = await layout(dest, 'clean');
    const [inL, outL] = [input.manifest.layers, out.manifest.layers];
    t.is(outL.length, 4);
    // untouched: the base layer and `RUN build`, descriptors (annotations included) as they were
    t.deepEqual(outL[0], inL[0]);
    t.deepEqual(outL[2], inL[3]);
    // rewritten: cross-build-start's and cross-build-end's layers
    for (const [i, was] of [[1, 2], [3, 4]] as const) {
      const d = outL[i]!;
      t.not(d.digest, inL[was]!.digest, `layer ${i} was rewritten`);
      t.is(d.mediaType, ZSTD, `layer ${i} media type`);
      t.deepEqual(Object.keys(d.annotations ?? {}).filter((k) => k.startsWith(CHUNKED_PREFIX)), [], `layer ${i}: no zstd:chunked TOC annotations on plain zstd`);
      const blob = await out.blob(d.digest);
      t.is(blob.readUInt32LE(0), ZSTD_MAGIC, `layer ${i} starts with the zstd magic`);
      t.is(sha(blob), d.digest);
      t.is(blob.length, d.size);
      const tar = execFileSync('zstd', ['-dc'], { input: blob, maxBuffer: 1 << 26 });
      t.is(sha(tar), out.config.rootfs.diff_ids[i]!, `layer ${i}: zstd -d gives the config's diff_id`);
      t.is(out.config.rootfs.diff_ids[i], gzipOut.config.rootfs.diff_ids[i], `layer ${i}: the same tar as the gzip case's`);
    }
    t.deepEqual(out.config.rootfs.diff_ids, gzipOut.config.rootfs.diff_ids);

    const v = await xbuild(['verify', '--final', `oci:${dest}:clean`]);
    t.is(v.code, 0, v.stdout + v.stderr);
    const fs = await mergedFsOf(out.img);
    t.deepEqual([...fs].sort(), [...gzipOut.fs].sort(), 'merged file system = the gzip case\'s');

    // pushed to the registry: the same manifest digest; skopeo sees tar+zstd layers there
    const ref = `${reg!.host}/unwrapped/${name}:clean`;
    const p = await xbuild(['unwrap', `oci:${src}:1`, '-t', ref, '--json']);
    t.is(p.code, 0, p.stderr);
    t.is(JSON.parse(p.stdout).digest, report.digest, 'same digest to the registry as to the layout');
    const pushed = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as ImageManifest;
    t.deepEqual(pushed.layers, outL);
    const vr = await xbuild(['verify', '--final', ref]);
    t.is(vr.code, 0, vr.stdout + vr.stderr);

    // skopeo reads it: a copy as it is, and a re-encode to gzip (its own zstd decoder) with the same files
    await skopeo(['copy', `oci:${dest}:clean`, `oci:${join(tmp, `copy-${name}`)}:x`]);
    const regz = join(tmp, `regz-${name}`);
    await skopeo(['copy', '--dest-compress-format', 'gzip', `oci:${dest}:clean`, `oci:${regz}:x`]);
    const back = await layout(regz, 'x');
    t.deepEqual(back.manifest.layers.map((l) => l.mediaType), [GZIP, GZIP, GZIP, GZIP]);
    t.deepEqual([...await mergedFsOf(back.img)].sort(), [...gzipOut.fs].sort(), 'skopeo\'s gzip re-encode has the same files');
  });
}

test('unwrap of uncompressed tar layers (skopeo --dest-decompress, then an OCI layout accepting them): rewritten layers stay uncompressed tar, the same tars as the gzip case', async (t) => {
  const TAR = 'application/vnd.oci.image.layer.v1.tar';
  await skopeo(['copy', '--dest-decompress', `oci:${built}:1`, `dir:${join(tmp, 'dir-tar')}`]);
  const src = join(tmp, 'in-tar');
  await skopeo(['copy', '--dest-oci-accept-uncompressed-layers', `dir:${join(tmp, 'dir-tar')}`, `oci:${src}:1`]);
  const input = await layout(src, '1');
  t.deepEqual(input.manifest.layers.map((l) => l.mediaType), [TAR, TAR, TAR, TAR, TAR], 'skopeo wrote uncompressed layers');
  const { dest, report } = await unwrapTo(`oci:${src}:1`, 'out-tar');
  t.deepEqual(report.platforms[0]!.layers, { reused: 2, rewritten: 2, dropped: 1 });
  const out = await layout(dest, 'clean');
  t.deepEqual([out.manifest.layers[0], out.manifest.layers[2]], [input.manifest.layers[0], input.manifest.layers[3]]);
  for (const i of [1, 3]) {
    const d = out.manifest.layers[i]!;
    t.is(d.mediaType, TAR, `layer ${i} media type`);
    t.is(d.digest, out.config.rootfs.diff_ids[i]!, `layer ${i}: an uncompressed blob is its own diff_id`);
  }
  t.deepEqual(out.config.rootfs.diff_ids, gzipOut.config.rootfs.diff_ids);
  const v = await xbuild(['verify', '--final', `oci:${dest}:clean`]);
  t.is(v.code, 0, v.stdout + v.stderr);
  t.deepEqual([...await mergedFsOf(out.img)].sort(), [...gzipOut.fs].sort());
});
