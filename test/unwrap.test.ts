// Library tier of `wrap --start` and `unwrap` on generated images (tar-stream
// layers, no builder): what a builder's layers look like for the classic
// lines, for --start, for a build that never ends cross-build mode, with a
// package upgrade of a swapped shell, hard links and a symlinked /bin.
import test from 'ava';
import { createHash } from 'node:crypto';
import type { Image } from '../src/oci/model.ts';
import { wrapImage } from '../src/wrap/wrap.ts';
import { unwrapImage } from '../src/unwrap/unwrap.ts';
import { verify } from '../src/verify/verify.ts';
import { isXbuildOwned } from '../src/contract/owned.ts';
import { DPKG_HOOK_TEXT } from '../src/wrap/start-state.ts';
import { memImage, memIndex, tarOf } from './helpers/mem-image.ts';
import { armElf, SHIM, DASH, DASH2, BASH, layerSource, debianBase, wrapped, startLayer, appLayer, upgradeLayer, endLayer } from './helpers/unwrap-fixtures.ts';
import { buildOn, withHistory } from './helpers/built-image.ts';
import { layerPaths, mergedFsOf, type FileFacts } from './helpers/merged-fs.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tar = tarOf;

function withoutOwned(fs: Map<string, FileFacts>): Map<string, FileFacts> {
  return new Map([...fs].filter(([p]) => !isXbuildOwned(p)));
}

async function assertClean(t: import('ava').ExecutionContext, img: Image): Promise<void> {
  for (const [i, paths] of (await layerPaths(await img.layers())).entries()) {
    const bad = paths.filter((p) => isXbuildOwned(p) || isXbuildOwned(p.replace(/\.wh\./, '')));
    t.deepEqual(bad, [], `layer ${i} holds xbuild paths`);
  }
  const fs = await mergedFsOf(img);
  for (const [p, f] of fs) t.not(f.digest, sha(SHIM), `${p} is the shim`);
  const labels = (await img.config()).config?.Labels ?? {};
  t.deepEqual(Object.keys(labels).filter((k) => k.startsWith('io.xbuild.')), []);
}

test('wrap --start: the layer holds the state cross-build-start leaves (swapped shells, originals, state file, dpkg hook), computed from the base', async (t) => {
  const img = await wrapped(true);
  const fs = await mergedFsOf(img);
  t.is(fs.get('usr/bin/dash')?.digest, sha(SHIM));
  t.is(fs.get('usr/bin/dash.xbuild-orig')?.digest, sha(DASH));
  t.is(fs.get('usr/bin/bash')?.digest, sha(SHIM));
  t.is(fs.get('usr/bin/bash.xbuild-orig')?.digest, sha(BASH));
  t.is(fs.get('usr/bin/rbash')?.digest, sha(BASH), 'a hard link of a swapped file stays the original (one inode swapped once)');
  t.is(fs.get('usr/bin/dash')?.mode, 0o755);
  t.is(fs.get('usr/lib/xbuild/cross-build-active')?.digest, sha('/bin/dash\n/bin/bash\n'));
  t.is(fs.get('etc/dpkg/dpkg.cfg.d/xbuild-cross-build')?.digest, sha(DPKG_HOOK_TEXT));
  t.is((await img.config()).history!.at(-1)!.created_by, 'xbuild wrap (qemu-arm-static, cross-build-start, cross-build-end) --start');
});

test('unwrap of a --start build that never ended: xbuild layer gone, shells back, upgrade kept, untouched layers reused', async (t) => {
  const base = await debianBase();
  const built = await buildOn(await wrapped(true), [{ createdBy: 'RUN build', tar: await appLayer() }, { createdBy: 'ENV X=1' }, { createdBy: 'RUN apt-get upgrade', tar: await upgradeLayer() }]);
  const r = await unwrapImage(built);
  const img = r.image as Image;
  const [bl, il, ol] = [await base.layers(), await built.layers(), await img.layers()];
  t.is(ol.length, bl.length + 2);
  t.deepEqual(ol[0]!.descriptor, bl[0]!.descriptor);
  t.deepEqual(ol[1]!.descriptor, il[2]!.descriptor, 'the app layer is reused byte-identically');
  t.notDeepEqual(ol[2]!.descriptor, il[3]!.descriptor);
  t.deepEqual(r.entries[0]!.layers, { reused: 2, rewritten: 1, dropped: 1 });
  t.deepEqual(r.entries[0]!.restored, ['usr/bin/dash']);
  t.true(r.bytesSaved > 0);
  const fs = await mergedFsOf(img);
  t.is(fs.get('usr/bin/dash')?.digest, sha(DASH2), 'the upgraded dash, not the shim');
  t.is(fs.get('usr/bin/dash2-link')?.digest, sha(DASH2), 'a hard link to the original follows it');
  t.is(fs.get('usr/bin/bash')?.digest, sha(BASH));
  t.is(fs.get('app/hello-link')?.digest, sha('hello\n'));
  await assertClean(t, img);
  const cfg = await img.config();
  t.deepEqual(cfg.history!.map((h) => h.created_by), ['base step 1', 'RUN build', 'ENV X=1', 'RUN apt-get upgrade']);
  t.deepEqual(cfg.history!.map((h) => !!h.empty_layer), [false, false, true, false]);
  t.is(cfg.rootfs.diff_ids.length, 3);
  const m = await img.manifest();
  t.is(m.annotations?.['org.opencontainers.image.base.name'], 'example.com/debian:12');
  t.is(m.annotations?.['org.opencontainers.image.base.digest'], await base.digest());
  t.is((await unwrapImage(built)).digest, r.digest, 'same input, same digest');
});

test('unwrap of the classic lines (start, build, end): merged file system = built minus xbuild paths', async (t) => {
  const built = await buildOn(await wrapped(false), [
    { createdBy: 'RUN ["cross-build-start"]', tar: await startLayer() },
    { createdBy: 'RUN build', tar: await appLayer() },
    { createdBy: 'RUN ["cross-build-end"]', tar: await endLayer() },
  ]);
  const r = await unwrapImage(built);
  const img = r.image as Image;
  t.deepEqual(r.entries[0]!.layers, { reused: 2, rewritten: 2, dropped: 1 });
  t.deepEqual([...(await mergedFsOf(img))].sort(), [...withoutOwned(await mergedFsOf(built))].sort());
  await assertClean(t, img);
});

test('unwrap of a build that ran cross-build-start and never ended: originals back byte for byte', async (t) => {
  const base = await debianBase();
  const built = await buildOn(await wrapped(false), [
    { createdBy: 'RUN ["cross-build-start"]', tar: await startLayer() },
    { createdBy: 'RUN build', tar: await appLayer() },
  ]);
  const img = (await unwrapImage(built)).image as Image;
  const want = await mergedFsOf(await buildOn(base, [{ createdBy: 'RUN build', tar: await appLayer() }]));
  const got = await mergedFsOf(img);
  for (const p of ['usr/bin/dash', 'usr/bin/bash', 'usr/bin/rbash', 'app/hello']) t.deepEqual(got.get(p), want.get(p), p);
  t.deepEqual([...got.keys()].filter((p) => !want.has(p)), []);
  await assertClean(t, img);
});

test('unwrap refuses a never-wrapped image with one line; an index is unwrapped per platform', async (t) => {
  const base = await debianBase();
  await t.throwsAsync(unwrapImage(base), { message: /^debian-like was never wrapped by xbuild \(no io\.xbuild\.version label\): there is nothing to unwrap$/ });
  const built = await buildOn(await wrapped(true), [{ createdBy: 'RUN build', tar: await appLayer() }]);
  const amd = memImage('amd', { architecture: 'amd64' }, [{ tar: await appLayer() }]);
  const idx = await memIndex('multi', [built, amd]);
  const r = await unwrapImage(idx);
  t.deepEqual(r.entries.map((e) => e.action), ['unwrapped', 'kept']);
  t.is(r.image.kind, 'index');
  await t.throwsAsync(unwrapImage(await memIndex('plain', [base, amd])), { message: /never wrapped/ });
});

test('verify --final passes the unwrapped image and fails the built one; a layer hiding the emulator still fails', async (t) => {
  const built = await buildOn(await wrapped(false), [
    { createdBy: 'RUN ["cross-build-start"]', tar: await startLayer() },
    { createdBy: 'RUN build', tar: await appLayer() },
  ]);
  const out = (await unwrapImage(built)).image as Image;
  const good = await verify(out, { final: true });
  t.true(good.passed, JSON.stringify(good.platforms[0]!.findings.filter((f) => f.severity === 'error')));
  const bad = await verify(built, { final: true });
  t.false(bad.passed);
  const ids = new Set(bad.platforms[0]!.findings.filter((f) => f.severity === 'error').map((f) => f.id));
  for (const id of ['final-xbuild-path', 'final-xbuild-label', 'cross-build-active', 'cross-build-original-left', 'cross-build-dpkg-hook-left']) t.true(ids.has(id as never), id);
  t.false(ids.has('emulator-missing' as never));
  // the user deleted the emulator in a later layer: its bytes are still in the xbuild layer
  const hiding = await buildOn(await wrapped(false), [{ createdBy: 'RUN rm', tar: await tar([{ name: 'usr/bin/.wh.qemu-arm-static' }]) }]);
  const r = await verify(hiding, { final: true });
  t.true(r.platforms[0]!.findings.some((f) => f.id === 'final-xbuild-layer-path' && f.path === 'usr/bin/qemu-arm-static'));
});

test('unwrap of a wrapped base that nothing was built on gives back the base layers and diff_ids', async (t) => {
  const base = await debianBase();
  for (const start of [false, true]) {
    const img = (await unwrapImage(await wrapped(start))).image as Image;
    t.deepEqual((await img.manifest()).layers, (await base.manifest()).layers);
    t.deepEqual((await img.config()).rootfs, (await base.config()).rootfs);
    t.deepEqual((await img.config()).history, (await base.config()).history);
  }
});

test('busybox layout (/bin/sh -> /bin/busybox, no /usr/lib): the swapped busybox comes back, directories only xbuild made go', async (t) => {
  const BUSYBOX = armElf('busybox');
  const base = await withHistory(memImage('busybox-like', { architecture: 'arm', variant: 'v7' }, [{ tar: await tar([
    { name: 'bin/', type: 'directory' }, { name: 'bin/busybox', content: BUSYBOX, mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' }, { name: 'bin/ls', type: 'symlink', linkname: '/bin/busybox' },
    { name: 'usr/', type: 'directory' }, { name: 'usr/bin/', type: 'directory' },
  ]) }]));
  const wrapped = (await wrapImage(base, { baseName: 'b', layerSource, xbuildVersion: '1' })).image as Image;
  const start = await tar([
    { name: 'bin/', type: 'directory' }, { name: 'bin/busybox', content: SHIM, mode: 0o755 }, { name: 'bin/busybox.xbuild-orig', content: BUSYBOX, mode: 0o755 },
    { name: 'usr/', type: 'directory' }, { name: 'usr/lib/', type: 'directory' }, { name: 'usr/lib/xbuild/', type: 'directory' },
    { name: 'usr/lib/xbuild/cross-build-active', content: '/bin/busybox\n' },
  ]);
  const app = await tar([{ name: 'usr/', type: 'directory' }, { name: 'usr/lib/', type: 'directory' }, { name: 'usr/lib/app.so', content: 'so' }]);
  const onlyStart = (await unwrapImage(await buildOn(wrapped, [{ createdBy: 'RUN ["cross-build-start"]', tar: start }]))).image as Image;
  let fs = await mergedFsOf(onlyStart);
  t.is(fs.get('bin/busybox')?.digest, sha(BUSYBOX));
  t.false(fs.has('usr/lib'), 'usr/lib existed only for xbuild');
  t.deepEqual([...fs.keys()].sort(), [...(await mergedFsOf(base)).keys()].sort());
  const withApp = (await unwrapImage(await buildOn(wrapped, [{ createdBy: 'RUN ["cross-build-start"]', tar: start }, { createdBy: 'RUN app', tar: app }]))).image as Image;
  fs = await mergedFsOf(withApp);
  t.is(fs.get('usr/lib')?.type, 'dir');
  t.is(fs.get('usr/lib/app.so')?.digest, sha('so'));
  await assertClean(t, withApp);
});
