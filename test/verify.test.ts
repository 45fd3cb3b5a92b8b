// verify as a library on in-memory images made of real tar layers and real
// Debian binaries (test/helpers/verify-images.ts).
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify, verifyImage, type PlatformReport } from '../src/verify/verify.ts';
import { parsePlatform } from '../src/oci/platform.ts';
import { XbuildError } from '../src/errors.ts';
import { memImage, memIndex, tarOf, type TarSpec } from './helpers/mem-image.ts';
import { debianLikeRoot, xbuildLayer, xbuildParts } from './helpers/verify-images.ts';
import { elfSample } from './helpers/elf-samples.ts';
import { standInQemuDir } from './helpers/hostile-inputs.ts';
import {
  EMULATOR_LEVERS, SERIES_THE_SHIM_NEEDS, SHIM_VERSION, emulatorNoteText, leversTheEmulatorLacks, parseEmulatorNote, parseShimNote, seriesTheShimNeeds,
} from '../src/contract/in-image.ts';

const ids = (r: PlatformReport, sev?: string) => r.findings.filter((f) => !sev || f.severity === sev).map((f) => f.id).sort();
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function wrappedArmhf(extra: TarSpec[][] = [], platform = { architecture: 'arm', variant: 'v7' }, root: 'armhf' | 'armel' | 'arm64' = 'armhf') {
  const parts = await xbuildParts(platform.architecture === 'arm64' ? 'aarch64' : 'arm');
  const layers = [await tarOf(await debianLikeRoot(root)), await tarOf(await xbuildLayer(parts))];
  for (const e of extra) layers.push(await tarOf(e));
  return { image: memImage('test/wrapped', platform, layers.map((tar) => ({ tar }))), parts };
}

test('the verify cases use the real emulator: when it is not built, xbuildParts fails (no silent stand-in)', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'xbuild-no-qemu-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const env = { HOME: d, XBUILD_CACHE_DIR: d, PATH: process.env.PATH };
  const e = await t.throwsAsync(xbuildParts('arm', env));
  t.regex(e!.message, /no qemu-arm-static \(emulator for arm\) built from the current patch series/);
  const e2 = await t.throwsAsync(xbuildParts('aarch64', { ...env, XBUILD_QEMU_DIR: d }));
  t.regex(e2!.message, /no qemu-aarch64-static .* in --qemu-dir/);
});

test('a correctly wrapped arm/v7 image passes; with the shim build given, the shims must be identical', async (t) => {
  const { image, parts } = await wrappedArmhf();
  t.log(`emulator from ${parts.emulatorFrom}, shim from ${parts.shimFrom}`);
  const r = await verifyImage(image);
  t.deepEqual(ids(r, 'error'), []);
  t.deepEqual(ids(r, 'warning'), []);
  t.deepEqual(ids(r, 'info'), ['shim-not-compared']);
  t.true(r.passed);
  t.is(r.checked.emulator, 'usr/bin/qemu-arm-static');
  t.regex(r.checked.emulatorNote ?? '', /^execve-intercept series=/);
  t.regex(r.checked.shimNotes['usr/bin/cross-build-start'] ?? '', /^shim version=/);
  t.true(r.checked.sampled.includes('usr/bin/dash'));
  t.true(r.checked.shells.includes('bin/sh'));
  const same = await verifyImage(image, { shimDigests: [digestOf(parts.shim)] });
  t.deepEqual(ids(same), []);
  const other = await verifyImage(image, { shimDigests: [digestOf(Buffer.from('another build'))] });
  t.deepEqual(ids(other, 'error'), ['shim-differs-from-build', 'shim-differs-from-build']);
});

// What cross-build-start leaves in a layer (shims/xbuild-shim.c): /bin/sh is
// resolved to its final file (/usr/bin/dash), which is renamed to
// dash.xbuild-orig and replaced by the shim; the state file lists it.
async function crossBuildStarted(): Promise<TarSpec[]> {
  const parts = await xbuildParts('arm');
  const dash = await readFile(await elfSample('armhf/dash'));
  return [
    { name: 'usr/bin/dash', content: parts.shim, mode: 0o755 },
    { name: 'usr/bin/dash.xbuild-orig', content: dash, mode: 0o755 },
    { name: 'usr/lib/xbuild/cross-build-active', content: '/usr/bin/dash\n' },
    { name: 'etc/dpkg/dpkg.cfg.d/xbuild-cross-build', content: '# xbuild\n' },
  ];
}

test('cross-build-start without cross-build-end fails and names the findings', async (t) => {
  const { image } = await wrappedArmhf([await crossBuildStarted()]);
  const r = await verifyImage(image);
  t.false(r.passed);
  t.deepEqual(ids(r, 'error'), ['cross-build-active', 'cross-build-dpkg-hook-left', 'cross-build-original-left', 'shell-is-shim']);
  const active = r.findings.find((f) => f.id === 'cross-build-active')!;
  t.is(active.path, 'usr/lib/xbuild/cross-build-active');
  t.regex(active.message, /swapped: \/usr\/bin\/dash/);
  t.regex(active.hint, /cross-build-end/);
  t.is(r.findings.find((f) => f.id === 'shell-is-shim')!.path, 'bin/sh');
});

test('cross-build-start then cross-build-end (whiteouts of the saved original and the state file) passes', async (t) => {
  const dash = await readFile(await elfSample('armhf/dash'));
  const end: TarSpec[] = [
    { name: 'usr/bin/.wh.dash.xbuild-orig' },
    { name: 'usr/bin/dash', content: dash, mode: 0o755 },
    { name: 'usr/lib/xbuild/.wh.cross-build-active' },
    { name: 'etc/dpkg/dpkg.cfg.d/.wh.xbuild-cross-build' },
  ];
  const { image } = await wrappedArmhf([await crossBuildStarted(), end]);
  const r = await verifyImage(image);
  t.deepEqual(ids(r, 'error'), []);
  t.true(r.passed);
});

test('an opaque directory hides the lower state file', async (t) => {
  const { image } = await wrappedArmhf([await crossBuildStarted(), [
    { name: 'usr/lib/xbuild/', type: 'directory' }, { name: 'usr/lib/xbuild/.wh..wh..opq' },
    { name: 'usr/bin/.wh.dash.xbuild-orig' }, { name: 'usr/bin/dash', content: await readFile(await elfSample('armhf/dash')), mode: 0o755 },
    { name: 'etc/dpkg/dpkg.cfg.d/.wh.xbuild-cross-build' },
  ]]);
  t.deepEqual(ids(await verifyImage(image), 'error'), []);
});

test('config amd64 with ARM binaries fails', async (t) => {
  const { image } = await wrappedArmhf([], { architecture: 'amd64', variant: undefined as unknown as string });
  const r = await verifyImage(image);
  t.false(r.passed);
  t.deepEqual(ids(r, 'error'), ['platform-machine-mismatch', 'platform-not-emulated', 'shell-wrong-arch']);
  t.regex(r.findings.find((f) => f.id === 'platform-machine-mismatch')!.message, /linux\/amd64 \(x86_64 \(62\)\) but \d+ of \d+ sampled ELF files are arm \(40\)/);
});

test('Debian\'s dynamic qemu-user binary in place of the emulator fails (dynamic, no xbuild note)', async (t) => {
  const dyn = await readFile(await elfSample('amd64/qemu-arm'));
  const { image } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: dyn, mode: 0o755 }]]);
  const r = await verifyImage(image);
  t.deepEqual(ids(r, 'error'), ['emulator-dynamic', 'emulator-no-xbuild-note']);
  t.regex(r.findings.find((f) => f.id === 'emulator-dynamic')!.message, /interpreter \/lib64\/ld-linux-x86-64\.so\.2/);
});

test('the same, read through the bounded sparse capture (small whole-file limit)', async (t) => {
  const dyn = await readFile(await elfSample('amd64/qemu-arm'));
  const { image } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: dyn, mode: 0o755 }]]);
  const r = await verifyImage(image, { limits: { wholeFileMax: 64 << 10, headBytes: 16 << 10, segmentMax: 64 << 10 } });
  t.true(ids(r, 'error').includes('emulator-dynamic'));
});

test('Debian\'s static-pie qemu-arm-static is accepted as static but lacks the xbuild execve note', async (t) => {
  const pie = await readFile(await elfSample('amd64/qemu-arm-static'));
  const { image } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: pie, mode: 0o755 }]]);
  t.deepEqual(ids(await verifyImage(image), 'error'), ['emulator-no-xbuild-note']);
});

test('an emulator of an older patch series beside a shim that passes newer options fails (every RUN line would say "unknown option"); the same series passes', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'xbuild-old-series-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const old = await readFile(join(await standInQemuDir(join(d, 'old'), emulatorNoteText({ series: SERIES_THE_SHIM_NEEDS - 1, qemu: '10.2.2' })), 'qemu-arm-static'));
  const { image } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: old, mode: 0o755 }]]);
  const r = await verifyImage(image);
  t.deepEqual(ids(r, 'error'), ['emulator-older-than-shim']);
  t.regex(r.findings.find((f) => f.id === 'emulator-older-than-shim')!.message, new RegExp(`shim version ${SHIM_VERSION}\\) starts the emulator with ${leversTheEmulatorLacks(SHIM_VERSION, SERIES_THE_SHIM_NEEDS - 1)[0]}, which /usr/bin/qemu-arm-static \\(patch series ${SERIES_THE_SHIM_NEEDS - 1}\\) rejects`));
  const same = await readFile(join(await standInQemuDir(join(d, 'same'), emulatorNoteText({ series: SERIES_THE_SHIM_NEEDS, qemu: '10.2.2' })), 'qemu-arm-static'));
  const { image: ok } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: same, mode: 0o755 }]]);
  t.deepEqual(ids(await verifyImage(ok), 'error'), []);
});

test('the note contract: emulator and shim notes parse back; a shim older than a lever needs no newer series', (t) => {
  t.deepEqual(parseEmulatorNote(emulatorNoteText({ series: 6, qemu: '10.2.2' })), { series: 6, qemu: '10.2.2' });
  t.deepEqual(parseEmulatorNote('execve-intercept series=9999 qemu=stand-in'), { series: 9999, qemu: 'stand-in' });
  t.deepEqual(parseEmulatorNote('execve-intercept series=3'), { series: 3 });
  t.is(parseEmulatorNote('execve-intercept series=x'), undefined);
  t.is(parseEmulatorNote('hostile stand-in'), undefined);
  t.is(parseShimNote(`shim version=${SHIM_VERSION}`), SHIM_VERSION);
  t.is(parseShimNote('shim version=4 extra'), undefined);
  for (const l of EMULATOR_LEVERS) {
    t.deepEqual(leversTheEmulatorLacks(l.shim - 1, l.series - 1), [], 'an older shim does not pass the option');
    t.deepEqual(leversTheEmulatorLacks(l.shim, l.series - 1), [l.flag]);
    t.deepEqual(leversTheEmulatorLacks(l.shim, l.series), []);
  }
  t.is(seriesTheShimNeeds(SHIM_VERSION), SERIES_THE_SHIM_NEEDS);
});

test('an emulator for the wrong architecture fails', async (t) => {
  const parts = await xbuildParts('aarch64');
  const image = memImage('test/wrong-emulator', { architecture: 'arm', variant: 'v7' }, [
    { tar: await tarOf(await debianLikeRoot('armhf')) }, { tar: await tarOf(await xbuildLayer(parts)) },
  ]);
  const r = await verifyImage(image);
  t.deepEqual(ids(r, 'error'), ['emulator-missing']);
  t.is(r.findings.find((f) => f.id === 'emulator-wrong-arch')?.path, 'usr/bin/qemu-aarch64-static');
  // and an ARM binary where the x86_64 emulator belongs
  const arm = await readFile(await elfSample('armhf/busybox'));
  const { image: img2 } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: arm, mode: 0o755 }]]);
  t.deepEqual(ids(await verifyImage(img2), 'error'), ['emulator-no-xbuild-note', 'emulator-not-host-native']);
});

test('a non-executable emulator is reported', async (t) => {
  const parts = await xbuildParts('arm');
  const { image } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: parts.emulator, mode: 0o644 }]]);
  t.deepEqual(ids(await verifyImage(image), 'error'), ['emulator-not-executable']);
});

test('whiteouts deleting /bin/sh, and replacing it (with an ARM binary / with the shim), are handled', async (t) => {
  const { image: deleted } = await wrappedArmhf([[{ name: 'usr/bin/.wh.sh' }]]);
  const r1 = await verifyImage(deleted);
  t.deepEqual(ids(r1, 'warning'), ['shell-missing']);
  t.deepEqual(ids(r1, 'error'), []);

  const busybox = await readFile(await elfSample('armhf/busybox'));
  const { image: replaced } = await wrappedArmhf([[{ name: 'usr/bin/.wh.sh' }, { name: 'usr/bin/sh', content: busybox, mode: 0o755 }]]);
  const r2 = await verifyImage(replaced);
  t.deepEqual(ids(r2, 'error'), []);
  t.true(r2.checked.sampled.includes('usr/bin/sh'), '/bin/sh resolved through bin -> usr/bin to the new regular file');

  const parts = await xbuildParts('arm');
  const { image: shimmed } = await wrappedArmhf([[{ name: 'usr/bin/.wh.sh' }, { name: 'usr/bin/sh', content: parts.shim, mode: 0o755 }]]);
  t.deepEqual(ids(await verifyImage(shimmed), 'error'), ['shell-is-shim']);

  // deleting the directory symlink /bin hides /bin/sh as well
  const { image: noBin } = await wrappedArmhf([[{ name: '.wh.bin' }]]);
  t.deepEqual(ids(await verifyImage(noBin), 'warning'), ['shell-missing']);
});

test('hard links and symlink loops', async (t) => {
  const dash = await readFile(await elfSample('armhf/dash'));
  const parts = await xbuildParts('arm');
  const root: TarSpec[] = [
    { name: 'bin', type: 'symlink', linkname: '/usr/bin' },
    { name: 'usr/bin/dash', content: dash, mode: 0o755 },
    { name: 'usr/bin/sh', type: 'link', linkname: 'usr/bin/dash' },
  ];
  const img = memImage('t/hl', { architecture: 'arm', variant: 'v7' }, [{ tar: await tarOf(root) }, { tar: await tarOf(await xbuildLayer(parts)) }]);
  const r = await verifyImage(img);
  t.deepEqual(ids(r, 'error'), []);
  t.true(r.checked.shells.includes('bin/sh'));

  const loop = memImage('t/loop', { architecture: 'arm', variant: 'v7' }, [{ tar: await tarOf([
    ...root.slice(0, 2), { name: 'usr/bin/sh', type: 'symlink', linkname: 'sh2' }, { name: 'usr/bin/sh2', type: 'symlink', linkname: '/bin/sh' },
  ]) }, { tar: await tarOf(await xbuildLayer(parts)) }]);
  const r2 = await verifyImage(loop);
  const loopFinding = r2.findings.find((f) => f.id === 'shell-unresolvable');
  t.is(loopFinding?.severity, 'error');
  t.regex(loopFinding?.message ?? '', /loop/);
});

test('layer entries with ../ and absolute paths are reported, applied clamped at the root as runtimes do, never written', async (t) => {
  const evil = `xbuild-verify-evil-${process.pid}`;
  const { image } = await wrappedArmhf([[
    { name: `../../${evil}`, content: 'x' },
    { name: `usr/../../${evil}-2`, content: 'x' },
    { name: '/usr/bin/absolute-file', content: 'x' },
    { name: 'usr/bin/hl', type: 'link', linkname: '../../usr/bin/absolute-file' },
  ]]);
  const r = await verifyImage(image);
  const parent = r.findings.filter((f) => f.id === 'layer-path-parent');
  t.is(parent.length, 3);
  t.is(parent[0]!.severity, 'error');
  t.is(r.findings.filter((f) => f.id === 'layer-path-absolute').length, 1);
  for (const dir of [process.cwd(), join(process.cwd(), '..'), join(process.cwd(), '..', '..'), '/']) {
    await t.throwsAsync(stat(join(dir, evil)));
  }
  const { image: missing } = await wrappedArmhf([[{ name: 'usr/bin/hl', type: 'link', linkname: '../../etc/passwd' }]]);
  await t.throwsAsync(verifyImage(missing), { message: /hard link to a missing file; container runtimes fail to unpack this layer/ });
});

test('ARM float ABI and architecture version vs the config variant', async (t) => {
  // armel binaries labelled arm/v7: soft float where hard is expected
  const { image: armelAsV7 } = await wrappedArmhf([], { architecture: 'arm', variant: 'v7' }, 'armel');
  t.deepEqual(ids(await verifyImage(armelAsV7), 'error'), ['platform-float-abi-mismatch']);
  // armel labelled arm/v5: passes
  const { image: armel } = await wrappedArmhf([], { architecture: 'arm', variant: 'v5' }, 'armel');
  t.deepEqual(ids(await verifyImage(armel), 'error'), []);
  // armhf (ARMv7) labelled arm/v6: binaries need a newer CPU than the label
  const { image: v7AsV6 } = await wrappedArmhf([], { architecture: 'arm', variant: 'v6' }, 'armhf');
  const r = await verifyImage(v7AsV6);
  t.deepEqual(ids(r, 'error'), ['platform-arch-version-mismatch']);
  t.regex(r.findings.find((f) => f.id === 'platform-arch-version-mismatch')!.message, /need v7/);
  // arm64 image wrapped for aarch64 passes; labelled arm/v7 it does not
  const { image: arm64 } = await wrappedArmhf([], { architecture: 'arm64', variant: 'v8' }, 'arm64');
  t.deepEqual(ids(await verifyImage(arm64), 'error'), []);
  const { image: arm64AsArm } = await wrappedArmhf([], { architecture: 'arm', variant: 'v7' }, 'arm64');
  t.deepEqual(ids(await verifyImage(arm64AsArm), 'error'), ['platform-machine-mismatch', 'shell-wrong-arch']);
});

test('an index is verified per platform; --platform selects one; attestations are skipped', async (t) => {
  const { image: good } = await wrappedArmhf();
  const bare = memImage('t/arm64', { architecture: 'arm64', variant: 'v8' }, [{ tar: await tarOf(await debianLikeRoot('arm64')) }]);
  const index = await memIndex('t/index', [good, bare], [{
    mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 1,
    platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
  }]);
  const all = await verify(index);
  t.is(all.kind, 'index');
  t.deepEqual(all.platforms.map((p) => [p.platform, p.passed]), [['linux/arm/v7', true], ['linux/arm64/v8', false]]);
  t.false(all.passed);
  t.is(all.skipped.length, 1);
  t.true(ids(all.platforms[1]!, 'error').includes('emulator-missing'));
  const one = await verify(index, { platform: parsePlatform('linux/arm/v7') });
  t.deepEqual(one.platforms.map((p) => p.platform), ['linux/arm/v7']);
  t.true(one.passed);
  const err = await t.throwsAsync(verify(index, { platform: parsePlatform('linux/s390x') }), { instanceOf: XbuildError });
  t.is(err?.code, 'NOT_FOUND');
});

test('a broken layer is an INVALID_IMAGE error (could not run), not a finding', async (t) => {
  const img = memImage('t/broken', { architecture: 'arm', variant: 'v7' }, [{ tar: Buffer.from('this is not a tar archive at all'.repeat(40)), gzip: true }]);
  const err = await t.throwsAsync(verifyImage(img), { instanceOf: XbuildError });
  t.is(err?.code, 'INVALID_IMAGE');
});

test('uncompressed tar layers are read; a blob with the zstd magic but no valid frame is INVALID_IMAGE (could not run; real zstd layers: layer-compression and layer-zstd-tools tests)', async (t) => {
  const root = await tarOf(await debianLikeRoot('armhf'));
  const parts = await xbuildParts('arm');
  const plain = memImage('t/plain', { architecture: 'arm', variant: 'v7' }, [{ tar: root, gzip: false }, { tar: await tarOf(await xbuildLayer(parts)), gzip: false }]);
  t.true((await verifyImage(plain)).passed);
  const zstdLike = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64)]);
  const z = memImage('t/zstd', { architecture: 'arm', variant: 'v7' }, [{ tar: zstdLike, gzip: false }]);
  const err = await t.throwsAsync(verifyImage(z), { instanceOf: XbuildError });
  t.is(err?.code, 'INVALID_IMAGE');
  t.regex(err!.message, /not a readable tar layer \(zstd/);
});

test('an image asked for with --platform it is not is a NOT_FOUND error', async (t) => {
  const { image } = await wrappedArmhf();
  const err = await t.throwsAsync(verifyImage(image, { platform: parsePlatform('linux/arm64') }), { instanceOf: XbuildError });
  t.is(err?.code, 'NOT_FOUND');
  t.true((await verifyImage(image, { platform: parsePlatform('linux/arm') })).passed, 'arm without variant matches arm/v7');
  // the spellings wrap accepts (one parser): aliases, upper case, a bare variant number
  for (const p of ['armhf', 'linux/ARM/7', 'linux/arm/v7', 'arm']) t.true((await verifyImage(image, { platform: parsePlatform(p) })).passed, p);
  for (const p of ['aarch64', 'linux/arm/v6']) {
    const e = await t.throwsAsync(verifyImage(image, { platform: parsePlatform(p) }), { instanceOf: XbuildError });
    t.is(e?.code, 'NOT_FOUND', p);
  }
});

test('when the capture limits cut PT_DYNAMIC, the emulator is not proven (error), never passed silently', async (t) => {
  const pie = await readFile(await elfSample('amd64/qemu-arm-static'));
  const { image } = await wrappedArmhf([[{ name: 'usr/bin/qemu-arm-static', content: pie, mode: 0o755 }]]);
  const r = await verifyImage(image, { limits: { wholeFileMax: 1024, headBytes: 64 << 10, segmentMax: 16 } });
  const unread = r.findings.find((f) => f.id === 'emulator-unreadable' && f.path === 'usr/bin/qemu-arm-static');
  t.truthy(unread);
  t.is(unread!.severity, 'error');
  t.false(r.passed);
  t.regex(unread!.message, /PT_DYNAMIC/);
});

test('an emulator hard-linked to a file outside the directories verify keeps is read again and proven', async (t) => {
  const parts = await xbuildParts('arm');
  const { image } = await wrappedArmhf([[
    { name: 'opt/elsewhere/qemu', content: parts.emulator, mode: 0o755 },
    { name: 'usr/bin/qemu-arm-static', type: 'link', linkname: 'opt/elsewhere/qemu', mode: 0o755 },
  ]]);
  const r = await verifyImage(image);
  t.deepEqual(ids(r, 'error'), []);
  t.truthy(r.checked.emulatorNote);
});

test('index platform = config platform: an entry claiming arm64 or amd64 for an arm/v7 image fails', async (t) => {
  const { image: good } = await wrappedArmhf();
  const d = { mediaType: await good.mediaType(), digest: await good.digest(), size: (await good.rawManifest()).length };
  for (const architecture of ['arm64', 'amd64']) {
    const index = await memIndex('t/lying-index', [], [{ ...d, platform: { os: 'linux', architecture } }]);
    const lying = { ...index, child: async () => good };
    const r = await verify(lying);
    t.false(r.passed, architecture);
    t.true(ids(r.platforms[0]!, 'error').includes('platform-index-mismatch'), architecture);
  }
  const honest = await verify(await memIndex('t/index', [good]));
  t.false(ids(honest.platforms[0]!, 'error').includes('platform-index-mismatch'));
});

test('unknown variants and files whose float ABI or architecture cannot be read are reported as not checked', async (t) => {
  const { image: upper } = await wrappedArmhf([], { architecture: 'arm', variant: 'V7' });
  const r = await verifyImage(upper);
  const nc = r.findings.find((f) => f.id === 'platform-not-checked');
  t.is(nc?.severity, 'warning');
  t.regex(nc?.message ?? '', /variant "V7"/);
  const dash = Buffer.from(await readFile(await elfSample('armhf/dash')));
  dash.writeUInt32LE(0, 0x20); dash.writeUInt16LE(0, 0x30); dash.writeUInt16LE(0, 0x32); // no section headers: no .ARM.attributes
  const { image: v6 } = await wrappedArmhf([[{ name: 'usr/bin/dash', content: dash, mode: 0o755 }]], { architecture: 'arm', variant: 'v6' });
  const r6 = await verifyImage(v6);
  t.regex(r6.findings.find((f) => f.id === 'platform-not-checked')?.message ?? '', /architecture version of \d+ file\(s\) without \.ARM\.attributes: .*\/usr\/bin\/dash/);
});

test('no false failure on nested indexes: the images of an index inside an index are verified', async (t) => {
  const { image: good } = await wrappedArmhf();
  const inner = await memIndex('t/inner', [good]);
  const innerRaw = await inner.rawManifest();
  const outerBase = await memIndex('t/outer', [], [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: await inner.digest(), size: innerRaw.length }]);
  const outer = { ...outerBase, child: async () => inner };
  const r = await verify(outer);
  t.deepEqual(r.platforms.map((p) => [p.platform, p.passed]), [['linux/arm/v7', true]]);
  t.true(r.passed);
});
