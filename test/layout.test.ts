import test from 'ava';
import { mkdtemp, rm, cp, readFile, writeFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOciLayout, writeOciLayout } from '../src/layout/oci-layout.ts';
import { readDockerArchive, writeDockerArchive } from '../src/layout/docker-archive.ts';
import { readAll } from '../src/oci/digest.ts';
import { validateImageOrIndex } from '../src/oci/manifest.ts';
import { XbuildError } from '../src/errors.ts';
import { smallImages, run } from './helpers/small-images.ts';

async function tmp(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'xbuild-layout-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('reads a fixture OCI layout (by tag and as the only entry)', async (t) => {
  const f = await smallImages();
  const img = await readOciLayout(join(f, 'armhf'), 'latest');
  t.is(img.kind, 'image');
  if (img.kind !== 'image') return;
  const cfg = await img.config();
  t.is(cfg.architecture, 'arm'); t.is(cfg.variant, 'v7');
  t.is((await img.layers()).length, 1);
  const untagged = await readOciLayout(join(f, 'armhf'));
  t.is(await untagged.digest(), await img.digest());
  const multi = await readOciLayout(join(f, 'multi'));
  t.is(multi.kind, 'index');
  await validateImageOrIndex(multi);
});

test('layout errors: missing dir, unknown tag, several images without a tag', async (t) => {
  const f = await smallImages();
  const e1 = await t.throwsAsync(readOciLayout('/nonexistent/xbuild'), { instanceOf: XbuildError });
  t.is(e1!.code, 'NOT_FOUND');
  const e2 = await t.throwsAsync(readOciLayout(join(f, 'armhf'), 'nope'), { instanceOf: XbuildError });
  t.is(e2!.code, 'NOT_FOUND'); t.regex(e2!.hint ?? '', /latest/);
  const d = await tmp(t);
  const img = await readOciLayout(join(f, 'armhf'));
  await writeOciLayout(join(d, 'two'), img, { tag: 'a' });
  await writeOciLayout(join(d, 'two'), img, { tag: 'b' });
  const e3 = await t.throwsAsync(readOciLayout(join(d, 'two')), { instanceOf: XbuildError });
  t.is(e3!.code, 'USAGE');
  t.is(await (await readOciLayout(join(d, 'two'), 'b')).digest(), await img.digest());
});

test('a corrupted blob is a DIGEST_MISMATCH when read', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  await cp(join(f, 'armhf'), join(d, 'bad'), { recursive: true });
  const img = await readOciLayout(join(d, 'bad'));
  if (img.kind !== 'image') return t.fail();
  const layer = (await img.layers())[0]!;
  const p = join(d, 'bad', 'blobs', 'sha256', layer.descriptor.digest.slice(7));
  const buf = await readFile(p); buf[buf.length - 10] = buf[buf.length - 10]! ^ 0xff; await writeFile(p, buf);
  const e = await t.throwsAsync(async () => readAll(await layer.open(), 1 << 30), { instanceOf: XbuildError });
  t.is(e!.code, 'DIGEST_MISMATCH');
});

test('OCI layout written by xbuild is read by skopeo and keeps blobs byte-identical', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  const multi = await readOciLayout(join(f, 'multi'));
  const w = await writeOciLayout(join(d, 'out'), multi, { tag: 'v1' });
  t.is(w.digest, await multi.digest());
  const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${join(d, 'out')}:v1`]);
  t.is(JSON.parse(stdout).manifests.length, 5);
  for (const b of await readdir(join(d, 'out', 'blobs', 'sha256'))) {
    t.true((await readFile(join(d, 'out', 'blobs', 'sha256', b))).equals(await readFile(join(f, 'multi', 'blobs', 'sha256', b))));
  }
  // no temp files left behind
  t.deepEqual((await readdir(d)).sort(), ['out']);
});

test('docker-archive: skopeo-written archive is read; xbuild-written archive round-trips', async (t) => {
  const f = await smallImages();
  const d = await tmp(t);
  await run('skopeo', ['copy', '-q', `oci:${join(f, 'arm64')}`, `docker-archive:${join(d, 'sk.tar')}:fixture/arm64:1`]);
  const img = await readDockerArchive(join(d, 'sk.tar'));
  const cfg = await img.config();
  t.is(cfg.architecture, 'arm64');
  await validateImageOrIndex(img);
  const layer = (await img.layers())[0]!;
  t.is((await readAll(await layer.open(), 1 << 30)).length, layer.descriptor.size);
  const byRef = await readDockerArchive(join(d, 'sk.tar'), 'fixture/arm64:1');
  t.is(await byRef.digest(), await img.digest());
  await writeDockerArchive(join(d, 'x.tar'), img, { repoTags: ['example.com/x:1'] });
  const back = await readDockerArchive(join(d, 'x.tar'), 'example.com/x:1');
  t.is(await back.digest(), await img.digest());
  t.true((await back.rawConfig()).equals(await img.rawConfig()));
  t.deepEqual((await readdir(d)).sort(), ['sk.tar', 'x.tar']);
  const e = await t.throwsAsync(readDockerArchive(join(d, 'missing.tar')), { instanceOf: XbuildError });
  t.is(e!.code, 'NOT_FOUND');
  await writeFile(join(d, 'junk.tar'), Buffer.alloc(2048, 7));
  const e2 = await t.throwsAsync(readDockerArchive(join(d, 'junk.tar')), { instanceOf: XbuildError });
  t.is(e2!.code, 'INVALID_IMAGE');
  t.true((await stat(join(d, 'x.tar'))).size > 0);
});
