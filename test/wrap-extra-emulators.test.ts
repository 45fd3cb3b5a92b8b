// wrap --extra-emulators (issue 12): the one added layer carries the image's own
// emulator and each sibling, the history entry names them, the image's own target
// is not added twice, and a sibling that cannot be found is refused before anything
// is written. The emulator files are the gcc-built stand-in of
// scripts/fixtures/elf-samples.sh (static x86_64 with the xbuild note); what they
// do at run time is test/shims-arches.test.ts and the e2e test.
import test from 'ava';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { wrapImage } from '../src/wrap/wrap.ts';
import { xbuildLayerSource } from '../src/wrap/layer-source.ts';
import { xbuildLayerEntries } from '../src/shims/layer.ts';
import { ensureShim } from '../src/shims/build.ts';
import { cacheRoot } from '../src/cache-root.ts';
import { XbuildError } from '../src/errors.ts';
import type { Image } from '../src/oci/model.ts';
import { memImage, tarOf } from './helpers/mem-image.ts';
import { elfSample } from './helpers/elf-samples.ts';

async function qemuDir(t: { teardown(fn: () => Promise<void>): void }, arches: string[]): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'xbuild-extra-emu-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const standIn = await elfSample('synthetic/x86_64-xbuild-note1');
  for (const a of arches) await copyFile(standIn, join(d, `qemu-${a}-static`));
  return d;
}

async function layerPaths(img: Image): Promise<string[]> {
  const layers = await img.layers();
  const last = layers[layers.length - 1]!;
  const chunks: Buffer[] = [];
  for await (const c of await last.open()) chunks.push(Buffer.from(c as Buffer));
  const tar = gunzipSync(Buffer.concat(chunks));
  const names: string[] = [];
  for (let o = 0; o + 512 <= tar.length; o += 512) {
    const name = tar.toString('latin1', o, o + 100).replace(/\0.*$/s, '');
    if (!name) break;
    names.push(name);
    const size = parseInt(tar.toString('latin1', o + 124, o + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    o += Math.ceil(size / 512) * 512;
  }
  return names;
}

test('an arm64 image wrapped with --extra-emulators arm,aarch64 carries both emulators once, named in the history', async (t) => {
  const dir = await qemuDir(t, ['aarch64', 'arm']);
  const shimPath = await ensureShim({ cacheRoot: cacheRoot(process.env) });
  const base = memImage('test/arm64', { architecture: 'arm64' }, [{ tar: await tarOf([{ name: 'etc/', type: 'directory' }]) }]);
  const r = await wrapImage(base, {
    baseName: 'test/arm64', xbuildVersion: '0.0.0-test',
    layerSource: xbuildLayerSource({ qemuDir: dir, env: process.env, entries: xbuildLayerEntries, shimPath, extraEmulators: ['arm', 'aarch64'] }),
  });
  const img = r.image as Image;
  const paths = await layerPaths(img);
  t.deepEqual(paths.filter((p) => p.startsWith('usr/bin/qemu-')), ['usr/bin/qemu-aarch64-static', 'usr/bin/qemu-arm-static']);
  const cfg = await img.config();
  t.is(cfg.history?.at(-1)?.created_by, 'xbuild wrap (qemu-aarch64-static, qemu-arm-static, cross-build-start, cross-build-end)');
  t.is(cfg.architecture, 'arm64');
});

test('a sibling emulator that cannot be found is refused (NO_EMULATOR naming it)', async (t) => {
  const dir = await qemuDir(t, ['aarch64']);
  const shimPath = await ensureShim({ cacheRoot: cacheRoot(process.env) });
  const base = memImage('test/arm64', { architecture: 'arm64' }, [{ tar: await tarOf([{ name: 'etc/', type: 'directory' }]) }]);
  const e = await t.throwsAsync(wrapImage(base, {
    baseName: 'test/arm64', xbuildVersion: '0.0.0-test',
    layerSource: xbuildLayerSource({ qemuDir: dir, env: process.env, entries: xbuildLayerEntries, shimPath, extraEmulators: ['arm'] }),
  }), { instanceOf: XbuildError });
  t.is((e as XbuildError).code, 'NO_EMULATOR');
  t.regex(e!.message, /qemu-arm-static/);
});
