// `xbuild verify` end to end through openImage: oci: layouts (image and
// index), docker-archive:, a real registry (Debian's docker-registry), and
// the bundled bin. Images are written by the layout/registry writers from the
// in-memory test images (real tar layers, real Debian binaries).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../src/cli/run.ts';
import { writeOciLayout } from '../src/layout/oci-layout.ts';
import { writeDockerArchive } from '../src/layout/docker-archive.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { parseRegistryReference } from '../src/oci/reference.ts';
import { pushImage } from '../src/registry/push.ts';
import { capture } from './helpers/capture.ts';
import { memImage, memIndex, tarOf, type TarSpec } from './helpers/mem-image.ts';
import { debianLikeRoot, xbuildLayer, xbuildParts } from './helpers/verify-images.ts';
import { elfSample } from './helpers/elf-samples.ts';
import { startRegistry } from './helpers/registry.ts';

async function images() {
  const parts = await xbuildParts('arm');
  const root = await tarOf(await debianLikeRoot('armhf'));
  const xl = await tarOf(await xbuildLayer(parts));
  const started: TarSpec[] = [
    { name: 'usr/bin/dash', content: parts.shim, mode: 0o755 },
    { name: 'usr/bin/dash.xbuild-orig', content: await readFile(await elfSample('armhf/dash')), mode: 0o755 },
    { name: 'usr/lib/xbuild/cross-build-active', content: '/usr/bin/dash\n' },
    { name: 'etc/dpkg/dpkg.cfg.d/xbuild-cross-build', content: '# xbuild\n' },
  ];
  const good = memImage('good', { architecture: 'arm', variant: 'v7' }, [{ tar: root }, { tar: xl }]);
  const left = memImage('left', { architecture: 'arm', variant: 'v7' }, [{ tar: root }, { tar: xl }, { tar: await tarOf(started) }]);
  const arm64 = memImage('arm64', { architecture: 'arm64', variant: 'v8' }, [{ tar: await tarOf(await debianLikeRoot('arm64')) }]);
  return { good, left, arm64, parts };
}

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xbuild-verify-oci-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('oci: layouts: a wrapped image exits 0, one left in cross-build mode exits 1 naming the findings', async (t) => {
  const { good, left } = await images();
  const dir = await tmp(t);
  await writeOciLayout(join(dir, 'l'), good, { tag: 'good' });
  await writeOciLayout(join(dir, 'l'), left, { tag: 'left' });
  const c1 = capture();
  t.is(await runCli(['verify', '-q', `oci:${join(dir, 'l')}:good`], c1.ctx), 0, c1.stdout() + c1.stderr());
  t.regex(c1.stdout(), /: PASS\n/);
  const c2 = capture();
  t.is(await runCli(['verify', '--json', `oci:${join(dir, 'l')}:left`], c2.ctx), 1);
  const r = JSON.parse(c2.stdout());
  t.is(r.schemaVersion, 1);
  t.false(r.passed);
  const errs = r.platforms[0].findings.filter((f: { severity: string }) => f.severity === 'error').map((f: { id: string }) => f.id).sort();
  t.deepEqual(errs, ['cross-build-active', 'cross-build-dpkg-hook-left', 'cross-build-original-left', 'shell-is-shim']);
  t.is(c2.stderr(), '', '--json keeps stderr free of progress');
});

test('oci: index: every platform is reported; --platform picks one', async (t) => {
  const { good, arm64 } = await images();
  const dir = await tmp(t);
  await writeOciLayout(join(dir, 'ix'), await memIndex('ix', [good, arm64]), { tag: 'multi' });
  const c = capture();
  t.is(await runCli(['verify', '--json', `oci:${join(dir, 'ix')}:multi`], c.ctx), 1);
  const r = JSON.parse(c.stdout());
  t.is(r.kind, 'index');
  t.deepEqual(r.platforms.map((p: { platform: string; passed: boolean }) => [p.platform, p.passed]), [['linux/arm/v7', true], ['linux/arm64/v8', false]]);
  const one = capture();
  t.is(await runCli(['verify', '-q', '--platform', 'linux/arm/v7', `oci:${join(dir, 'ix')}:multi`], one.ctx), 0);
  t.regex(one.stdout(), /skipped linux\/arm64\/v8: not selected by --platform/);
  const none = capture();
  t.is(await runCli(['verify', '-q', '--platform', 'linux/ppc64le', `oci:${join(dir, 'ix')}:multi`], none.ctx), 2);
  t.regex(none.stderr(), /no image for linux\/ppc64le/);
});

test('docker-archive: is verified the same way; --shim compares bytes with the shim build', async (t) => {
  const { good, parts } = await images();
  const dir = await tmp(t);
  const file = join(dir, 'img.tar');
  await writeDockerArchive(file, good, { repoTags: ['xbuild/good:1'] });
  const c = capture();
  t.is(await runCli(['verify', '--json', '--shim', parts.shimFrom, `docker-archive:${file}`], c.ctx), 0, c.stderr());
  const ids = JSON.parse(c.stdout()).platforms[0].findings.map((f: { id: string }) => f.id);
  t.deepEqual(ids, [], 'no shim-not-compared when --shim is given');
  const other = await elfSample('synthetic/x86_64-xbuild-note2');
  const c2 = capture();
  t.is(await runCli(['verify', '-q', '--shim', other, `docker-archive:${file}`], c2.ctx), 1);
  t.regex(c2.stdout(), /shim-differs-from-build/);
});

test('a registry image (Debian docker-registry on loopback) is verified; a missing tag exits 2', async (t) => {
  const { left } = await images();
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const ref = parseRegistryReference(`${reg.host}/xbuild/left:1`);
  await pushImage(left, ref, new RegistryClient({ env: {} }));
  const c = capture();
  t.is(await runCli(['verify', '-q', `${reg.host}/xbuild/left:1`], c.ctx), 1, c.stderr());
  t.regex(c.stdout(), /cross-build-active/);
  const c2 = capture();
  t.is(await runCli(['verify', '-q', `${reg.host}/xbuild/left:nope`], c2.ctx), 2);
  t.regex(c2.stderr(), /^xbuild: /);
});

test('the bundled bin verifies an oci: layout with exit code 1 and JSON on stdout', async (t) => {
  const { left } = await images();
  const dir = await tmp(t);
  await writeOciLayout(join(dir, 'l'), left, { tag: 'left' });
  const err = await t.throwsAsync(promisify(execFile)(process.execPath, ['bin/xbuild.mjs', 'verify', '--json', `oci:${join(dir, 'l')}:left`])) as Error & { code?: number; stdout?: string };
  t.is(err.code, 1);
  t.false(JSON.parse(err.stdout ?? '{}').passed);
});

test('a layer blob that does not match its digest makes verify exit 2 (could not run), not a finding', async (t) => {
  const { good } = await images();
  const dir = await tmp(t);
  await writeOciLayout(join(dir, 'l'), good, { tag: 'good' });
  const layer = (await good.layers())[0]!;
  const { writeFile } = await import('node:fs/promises');
  const path = join(dir, 'l', 'blobs', 'sha256', layer.descriptor.digest.slice(7));
  const bytes = await readFile(path);
  bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff; // flip a byte near the gzip trailer
  await writeFile(path, bytes);
  const c = capture();
  t.is(await runCli(['verify', '-q', `oci:${join(dir, 'l')}:good`], c.ctx), 2);
  t.regex(c.stderr(), /^xbuild: .*(digest|sha256|mismatch|tar|gzip)/i);
  t.is(c.stdout(), '');
});
