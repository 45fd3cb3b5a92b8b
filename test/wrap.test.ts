// Library tier of wrap, on the fixture images. Until the patched emulator and
// the real shims land, the added layer is a STAND-IN: Debian's qemu-*-static
// plus placeholder cross-build scripts (test names say so).
import test from 'ava';
import { mkdtemp, rm, readFile, readdir, cp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOciLayout } from '../src/layout/oci-layout.ts';
import { runWrap, type WrapRequest } from '../src/wrap/run-wrap.ts';
import { wrapImage, LABEL_QEMU_VERSION, LABEL_XBUILD_VERSION } from '../src/wrap/wrap.ts';
import { xbuildLayerSource } from '../src/wrap/layer-source.ts';
import { readDockerArchive } from '../src/layout/docker-archive.ts';
import { validateImageOrIndex } from '../src/oci/manifest.ts';
import { XbuildError } from '../src/errors.ts';
import type { Image, ImageIndex } from '../src/oci/model.ts';
import { smallImages, standInLayerSource, run } from './helpers/small-images.ts';

async function tmp(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'xbuild-wrap-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function request(image: string, extra: Partial<WrapRequest>): Promise<WrapRequest> {
  return { image, tags: [], env: {}, xbuildVersion: '9.9.9-test', hostArch: 'amd64', ...extra };
}

test('oci -> oci (stand-in layer): one added layer + history, platform kept, labels, annotations, base blobs byte-identical, skopeo reads it', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  const out = join(d, 'out');
  const rep = await runWrap(await request(`oci:${f}/armhf:latest`, { output: { type: 'oci', dest: out }, tags: ['example.com/busybox-xbuild:1'] }), { layerSource: standInLayerSource(join(f, 'qemu')) });
  t.is(rep.outputs[0]!.reference, `oci:${out}:1`);
  const base = await readOciLayout(join(f, 'armhf')) as Image;
  const img = await readOciLayout(out, '1') as Image;
  t.is(await img.digest(), rep.digest);
  await validateImageOrIndex(img);
  const bm = await base.manifest(); const m = await img.manifest();
  t.is(m.layers.length, bm.layers.length + 1);
  t.deepEqual(m.layers.slice(0, -1), bm.layers);
  t.is(m.mediaType, bm.mediaType);
  t.is(m.annotations?.['org.opencontainers.image.base.name'], `oci:${f}/armhf:latest`);
  t.is(m.annotations?.['org.opencontainers.image.base.digest'], await base.digest());
  const bc = await base.config(); const c = await img.config();
  t.is(c.architecture, 'arm'); t.is(c.variant, 'v7'); t.is(c.os, 'linux');
  t.deepEqual(c.rootfs.diff_ids.slice(0, -1), bc.rootfs.diff_ids);
  t.is(c.history!.length, bc.history!.length + 1);
  t.is(c.history!.at(-1)!.created_by, 'xbuild wrap (qemu-arm-static, cross-build-start, cross-build-end)');
  t.is(c.config?.Labels?.[LABEL_XBUILD_VERSION], '9.9.9-test');
  t.regex(c.config?.Labels?.[LABEL_QEMU_VERSION] ?? '', /^\d+\.\d+/);
  t.is(c.config?.Labels?.['org.example.fixture'], 'busybox-static armhf');
  for (const l of bm.layers) {
    const h = l.digest.slice(7);
    t.true((await readFile(join(out, 'blobs/sha256', h))).equals(await readFile(join(f, 'armhf/blobs/sha256', h))));
  }
  const { stdout } = await run('skopeo', ['inspect', `oci:${out}:1`]);
  const sk = JSON.parse(stdout);
  t.is(sk.Architecture, 'arm'); t.is(sk.Layers.length, 2);
  const skc = JSON.parse((await run('skopeo', ['inspect', '--config', `oci:${out}:1`])).stdout);
  t.is(skc.variant, 'v7'); t.is(skc.rootfs.diff_ids.length, 2);
  t.is(sk.Labels[LABEL_XBUILD_VERSION], '9.9.9-test');
  // the added layer holds the emulator at the contract path
  const { stdout: files } = await run('bash', ['-c', `tar -tzf ${join(out, 'blobs/sha256', m.layers.at(-1)!.digest.slice(7))}`]);
  t.true(files.split('\n').includes('usr/bin/qemu-arm-static'));
});

test('deterministic (stand-in layer): same inputs + SOURCE_DATE_EPOCH give the same manifest digest; another epoch does not', async (t) => {
  const f = await smallImages();
  const base = await readOciLayout(join(f, 'arm64'));
  const opts = { baseName: 'fixture/arm64', layerSource: standInLayerSource(join(f, 'qemu')), xbuildVersion: '1', sourceDateEpoch: 1700000000 };
  const a = await wrapImage(base, opts);
  const b = await wrapImage(await readOciLayout(join(f, 'arm64')), opts);
  t.is(a.digest, b.digest);
  const c = await wrapImage(base, { ...opts, sourceDateEpoch: 1700000001 });
  t.not(c.digest, a.digest);
  const cfg = await (a.image as Image).config();
  t.is(cfg.history!.at(-1)!.created, '2023-11-14T22:13:20Z');
  t.is(cfg.history!.at(-1)!.created_by, 'xbuild wrap (qemu-aarch64-static, cross-build-start, cross-build-end)');
});

test('index (stand-in layer): wraps arm/v7, arm/v5, arm64; keeps amd64 and the attestation untouched; new index annotated', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  const out = join(d, 'multi');
  const rep = await runWrap(await request(`oci:${f}/multi`, { output: { type: 'oci', dest: out } }), { layerSource: standInLayerSource(join(f, 'qemu')) });
  const base = await readOciLayout(join(f, 'multi'));
  const idx = await readOciLayout(out);
  t.is(idx.kind, 'index');
  if (idx.kind !== 'index' || base.kind !== 'index') return;
  await validateImageOrIndex(idx);
  const bm = await base.manifest(); const m = await idx.manifest();
  t.is(m.manifests.length, bm.manifests.length);
  t.deepEqual(rep.platforms.map((p) => `${p.platform} ${p.action}`), ['linux/arm/v7 wrapped', 'linux/arm/v5 wrapped', 'linux/arm64 wrapped', 'linux/amd64 kept', 'attestation kept']);
  for (let i = 0; i < bm.manifests.length; i++) {
    const was = bm.manifests[i]!; const now = m.manifests[i]!;
    t.deepEqual(now.platform, was.platform);
    if (rep.platforms[i]!.action === 'kept') t.deepEqual(now, was);
    else {
      t.not(now.digest, was.digest);
      const child = await idx.child(now) as Image;
      t.is((await child.manifest()).annotations?.['org.opencontainers.image.base.digest'], was.digest);
      t.is((await child.config()).architecture, was.platform!.architecture);
    }
  }
  t.is(m.annotations?.['org.opencontainers.image.base.digest'], await base.digest());
  const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${out}`]);
  t.is((JSON.parse(stdout) as ImageIndex).manifests.length, 5);
});

test('index with --platform (stand-in layer): keeps and wraps only the named platforms', async (t) => {
  const f = await smallImages();
  const r = await wrapImage(await readOciLayout(join(f, 'multi')), {
    baseName: 'x', layerSource: standInLayerSource(join(f, 'qemu')), xbuildVersion: '1',
    platforms: [{ os: 'linux', architecture: 'arm64' }],
  });
  t.deepEqual(r.entries.map((e) => e.platform), ['linux/arm64']);
  const e = await t.throwsAsync(wrapImage(await readOciLayout(join(f, 'multi')), {
    baseName: 'x', layerSource: standInLayerSource(join(f, 'qemu')), xbuildVersion: '1', platforms: [{ os: 'linux', architecture: 'amd64' }],
  }), { instanceOf: XbuildError });
  t.is(e!.code, 'UNSUPPORTED'); t.regex(e!.message, /runs natively/);
  const e2 = await t.throwsAsync(wrapImage(await readOciLayout(join(f, 'multi')), {
    baseName: 'x', layerSource: standInLayerSource(join(f, 'qemu')), xbuildVersion: '1', platforms: [{ os: 'linux', architecture: 'riscv64' }],
  }), { instanceOf: XbuildError });
  t.is(e2!.code, 'NOT_FOUND'); t.regex(e2!.hint ?? '', /linux\/arm64/);
});

test('an amd64 base is refused (runs natively); an index of only amd64 too; a wrapped image is not wrapped again', async (t) => {
  const f = await smallImages();
  const ls = standInLayerSource(join(f, 'qemu'));
  const e = await t.throwsAsync(wrapImage(await readOciLayout(join(f, 'amd64')), { baseName: 'x', layerSource: ls, xbuildVersion: '1' }), { instanceOf: XbuildError });
  t.is(e!.code, 'UNSUPPORTED'); t.is(e!.exitCode, 2); t.regex(e!.message, /linux\/amd64, which runs natively/);
  const wrapped = await wrapImage(await readOciLayout(join(f, 'armel')), { baseName: 'x', layerSource: ls, xbuildVersion: '1' });
  const e2 = await t.throwsAsync(wrapImage(wrapped.image, { baseName: 'x', layerSource: ls, xbuildVersion: '1' }), { instanceOf: XbuildError });
  t.regex(e2!.message, /already wrapped/);
});

test('Docker media types stay Docker (stand-in layer): the added layer is a Docker gzip layer', async (t) => {
  const f = await smallImages();
  const r = await wrapImage(await readOciLayout(join(f, 'armhf-docker')), { baseName: 'x', layerSource: standInLayerSource(join(f, 'qemu')), xbuildVersion: '1' });
  const m = await (r.image as Image).manifest();
  t.is(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.is(m.layers.at(-1)!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  t.is(m.config.mediaType, 'application/vnd.docker.container.image.v1+json');
});

test('missing emulator: NO_EMULATOR with a hint naming `xbuild qemu build` and --qemu-dir', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  const entries = async () => [];
  const e = await t.throwsAsync(wrapImage(await readOciLayout(join(f, 'armhf')), { baseName: 'x', xbuildVersion: '1', layerSource: xbuildLayerSource({ qemuDir: d, env: {}, entries }) }), { instanceOf: XbuildError });
  t.is(e!.code, 'NO_EMULATOR'); t.regex(e!.hint ?? '', /xbuild qemu build/);
  const e2 = await t.throwsAsync(wrapImage(await readOciLayout(join(f, 'armhf')), { baseName: 'x', xbuildVersion: '1', layerSource: xbuildLayerSource({ env: { XBUILD_CACHE_DIR: d }, entries }) }), { instanceOf: XbuildError });
  t.is(e2!.code, 'NO_EMULATOR'); t.regex(e2!.hint ?? '', /--qemu-dir/);
});

test('oci -> docker-archive (stand-in layer): RepoTags, layers as written; an index needs --platform', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  const file = join(d, 'out.tar');
  const rep = await runWrap(await request(`oci:${f}/arm64`, { output: { type: 'docker', dest: file }, tags: ['localhost:5000/busybox-xbuild:arm64'] }), { layerSource: standInLayerSource(join(f, 'qemu')) });
  const img = await readDockerArchive(file, 'localhost:5000/busybox-xbuild:arm64');
  t.is((await img.config()).architecture, 'arm64');
  t.is((await img.layers()).length, 2);
  t.truthy(rep.digest);
  const e = await t.throwsAsync(runWrap(await request(`oci:${f}/multi`, { output: { type: 'docker', dest: join(d, 'multi.tar') } }), { layerSource: standInLayerSource(join(f, 'qemu')) }), { instanceOf: XbuildError });
  t.regex(e!.hint ?? '', /--platform/);
  const rep2 = await runWrap(await request(`oci:${f}/multi`, { output: { type: 'docker', dest: join(d, 'multi.tar') }, platforms: [{ os: 'linux', architecture: 'arm', variant: 'v7' }] }), { layerSource: standInLayerSource(join(f, 'qemu')) });
  t.is(rep2.platforms.length, 1);
  t.is((await (await readDockerArchive(join(d, 'multi.tar'))).config()).variant, 'v7');
  t.deepEqual((await readdir(d)).sort(), ['multi.tar', 'out.tar']);
});

test('a corrupted base blob fails with DIGEST_MISMATCH and leaves nothing written', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  await cp(join(f, 'armhf'), join(d, 'base'), { recursive: true });
  const base = await readOciLayout(join(d, 'base')) as Image;
  const p = join(d, 'base/blobs/sha256', (await base.manifest()).layers[0]!.digest.slice(7));
  const buf = await readFile(p); buf[100] = buf[100]! ^ 0xff; await writeFile(p, buf);
  await mkdir(join(d, 'o'));
  for (const [type, dest] of [['oci', join(d, 'o', 'layout')], ['docker', join(d, 'o', 'a.tar')]] as const) {
    const e = await t.throwsAsync(runWrap(await request(`oci:${d}/base`, { output: { type, dest } }), { layerSource: standInLayerSource(join(f, 'qemu')) }), { instanceOf: XbuildError });
    t.is(e!.code, 'DIGEST_MISMATCH');
  }
  t.deepEqual(await readdir(join(d, 'o')), []);
});
