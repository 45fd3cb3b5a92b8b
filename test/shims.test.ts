// The shim binary and the xbuild layer, without running an emulator:
// reproducible build, ELF facts, layer entries, installation into a tree,
// and the refusals of cross-build-start on real ARM trees.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile, chmod, unlink, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { ensureShim, shimCompileFlags } from '../src/shims/build.ts';
import { EMULATOR_LEVERS, SERIES_THE_SHIM_NEEDS, SHIM_VERSION, leversTheEmulatorLacks } from '../src/contract/in-image.ts';
import { checkShimBinary, shimNoteVersion } from '../src/shims/elf-check.ts';
import { xbuildLayerEntries } from '../src/shims/layer.ts';
import { installLayerEntries } from './helpers/install-layer.ts';
import { CROSS_BUILD_END, CROSS_BUILD_START, STATE_FILE, emulatorInImage, ORIGINAL_SUFFIX } from '../src/contract/in-image.ts';
import { XbuildError } from '../src/errors.ts';
import type { LayerEntry } from '../src/layer/entry.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { elfSample } from './helpers/elf-samples.ts';
import { cacheRoot, copyRoot } from './helpers/shims-roots.ts';
import { stockEmulator } from './helpers/shims-emulator.ts';
import { chrootRun, diffSnapshots, snapshotTree } from './helpers/shims-chroot.ts';
import { buildRecorderEmulator, LEVERS_ON } from './helpers/recorder-emulator.ts';
import { standInQemuDir } from './helpers/hostile-inputs.ts';

const run = promisify(execFile);

async function tmp(t: { teardown: (fn: () => Promise<void>) => void }, prefix = 'xbuild-shims-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

const sharedShim = () => ensureShim({ cacheRoot: cacheRoot() });

async function streamBytes(e: LayerEntry): Promise<Buffer> {
  if (Buffer.isBuffer(e.content)) return e.content;
  if (!e.content) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of (await e.content()) as Readable) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

test('ensureShim builds reproducibly: two cold caches give identical bytes; a warm cache is reused', async (t) => {
  const a = await tmp(t);
  const b = await tmp(t);
  const pa = await ensureShim({ cacheRoot: a });
  const pb = await ensureShim({ cacheRoot: b });
  t.true(pa.startsWith(join(a, 'shim')));
  t.true(pa.endsWith('/xbuild-shim'));
  t.deepEqual(await readFile(pa), await readFile(pb));
  const st1 = await stat(pa);
  const again = await ensureShim({ cacheRoot: a });
  t.is(again, pa);
  t.is((await stat(again)).mtimeMs, st1.mtimeMs);
  // a damaged cached file is rebuilt, not used
  await writeFile(pa, 'garbage');
  const rebuilt = await ensureShim({ cacheRoot: a });
  t.deepEqual(await readFile(rebuilt), await readFile(pb));
  const build = JSON.parse(await readFile(join(a, 'shim', pa.split('/').at(-2)!, 'build.json'), 'utf8'));
  t.deepEqual(build.flags, shimCompileFlags());
});

test('the shim is a small static x86_64 ELF without libc, build-id or interpreter, with the xbuild note', async (t) => {
  const p = await sharedShim();
  const bytes = await readFile(p);
  const facts = checkShimBinary(bytes, p);
  t.is(facts.machine, 62);
  t.is(facts.type, 2); // ET_EXEC
  t.is(facts.linkage, 'static');
  t.is(facts.interpreter, undefined);
  t.false(facts.hasDynamic);
  t.is(shimNoteVersion(facts), SHIM_VERSION);
  t.false(facts.notes.some((n) => n.name === 'GNU'), 'no GNU build-id / ABI notes');
  t.true(bytes.length < 32 * 1024, `shim is ${bytes.length} bytes`);
  // cross-check with binutils: a PT_NOTE segment holds .note.xbuild; no .interp/.dynamic sections
  const { stdout } = await run('readelf', ['-lnW', p]);
  t.regex(stdout, /NOTE\s/);
  t.regex(stdout, /xbuild\s+0x0000000e/);
  t.notRegex(stdout, /INTERP|DYNAMIC/);
  const { stdout: sections } = await run('readelf', ['-SW', p]);
  t.regex(sections, /\.note\.xbuild\s+NOTE/);
});

test('checkShimBinary rejects a dynamic host program, an ARM program and a note-less static program', async (t) => {
  const d = await tmp(t);
  t.throws(() => checkShimBinary(Buffer.from('#!/bin/sh\n'), 'script'), { message: /not the xbuild shim/ });
  const hostTrue = await readFile('/bin/true');
  t.throws(() => checkShimBinary(hostTrue, '/bin/true'), { message: /dynamically linked \(PT_INTERP or DT_NEEDED\); no "xbuild" note/ });
  const arm = await readFile(join(await copyRoot('arm64', 'busybox', d), 'bin/busybox'));
  t.throws(() => checkShimBinary(arm, 'busybox'), { message: /e_machine 183 \(ELF64, little-endian, e_type 2\), not an x86_64 \(62\)/ });
  const src = join(d, 'x.c');
  await writeFile(src, 'void _start(void){ for(;;) __asm__ volatile("mov $60,%eax; xor %edi,%edi; syscall"); }\n');
  await run('gcc', ['-static', '-nostdlib', '-o', join(d, 'x'), src]);
  const noNote = await readFile(join(d, 'x'));
  t.throws(() => checkShimBinary(noNote, 'x'), { message: /^x is not a valid xbuild shim: no "xbuild" note of type 2$/ });
});

test('the compile flags carry every contract name, so the C program and contract.ts agree', (t) => {
  const flags = shimCompileFlags().join(' ');
  t.true(flags.includes(`-DXB_ORIGINAL_SUFFIX="${ORIGINAL_SUFFIX}"`));
  t.true(flags.includes(`-DXB_STATE_FILE="/${STATE_FILE}"`));
  t.true(flags.includes(`-DXB_START_NAME="/${CROSS_BUILD_START}"`));
  t.true(flags.includes(`-DXB_END_NAME="/${CROSS_BUILD_END}"`));
  t.true(flags.includes('-Wl,--build-id=none'));
});

test('xbuildLayerEntries: the full, sorted, deterministic file set for each architecture', async (t) => {
  const d = await tmp(t);
  const shimPath = await sharedShim();
  const shim = await readFile(shimPath);
  const standIn = await readFile(await elfSample('synthetic/x86_64-xbuild-note1')); // static x86_64 with the emulator note
  for (const arch of ['arm', 'aarch64'] as const) {
    const emulatorPath = join(d, `emu-${arch}`);
    await writeFile(emulatorPath, Buffer.concat([standIn, Buffer.from(arch)]));
    const a = await xbuildLayerEntries({ arch, emulatorPath, shimPath });
    const b = await xbuildLayerEntries({ arch, emulatorPath, shimPath });
    const shape = (es: LayerEntry[]) => es.map(({ path, type, mode, size }) => ({ path, type, mode, size }));
    t.deepEqual(shape(a), shape(b));
    t.deepEqual(shape(a), [
      { path: 'usr', type: 'dir', mode: 0o755, size: undefined },
      { path: 'usr/bin', type: 'dir', mode: 0o755, size: undefined },
      { path: CROSS_BUILD_END, type: 'file', mode: 0o755, size: shim.length },
      { path: CROSS_BUILD_START, type: 'file', mode: 0o755, size: shim.length },
      { path: emulatorInImage(arch), type: 'file', mode: 0o755, size: standIn.length + arch.length },
      { path: 'usr/lib', type: 'dir', mode: 0o755, size: undefined },
      { path: 'usr/lib/xbuild', type: 'dir', mode: 0o755, size: undefined },
    ]);
    for (const e of a.filter((x) => x.type === 'file')) {
      const bytes = await streamBytes(e);
      t.is(bytes.length, e.size ?? -1);
      if (e.path !== emulatorInImage(arch)) t.deepEqual(bytes, shim);
    }
    // an opener gives a fresh stream each time (read once to hash, again to upload)
    const emu = a.find((x) => x.path === emulatorInImage(arch))!;
    t.deepEqual(await streamBytes(emu), await streamBytes(emu));
  }
});

test('xbuildLayerEntries refuses an emulator that is not xbuild\'s as cross-build-start would: stock QEMU, dynamic, the shim', async (t) => {
  const shimPath = await sharedShim();
  for (const [sample, re] of [
    ['amd64/qemu-arm-static', /is not xbuild's: no "xbuild" ELF note of type 1: not xbuild's execve-intercepting emulator \(stock QEMU/],
    ['amd64/qemu-arm', /is not xbuild's: dynamically linked .*; no "xbuild" ELF note of type 1/],
    ['armhf/busybox', /is not xbuild's: e_machine 40 \(ELF32, little-endian, e_type 2\), not an x86_64/],
  ] as const) {
    const e = await t.throwsAsync(xbuildLayerEntries({ arch: 'arm', emulatorPath: await elfSample(sample), shimPath }), { instanceOf: XbuildError });
    t.is(e!.code, 'NO_EMULATOR', sample);
    t.regex(e!.message, re, sample);
    t.regex(e!.hint ?? '', /xbuild qemu build.*qemu-user-static will not do/, sample);
  }
  const e = await t.throwsAsync(xbuildLayerEntries({ arch: 'arm', emulatorPath: shimPath, shimPath }), { instanceOf: XbuildError });
  t.regex(e!.message, /no "xbuild" ELF note of type 1/, 'the shim carries note type 2, not the emulator note');
});

test('xbuildLayerEntries refuses a missing or non-x86_64 emulator and a file that is not the shim', async (t) => {
  const d = await tmp(t);
  const shimPath = await sharedShim();
  await t.throwsAsync(xbuildLayerEntries({ arch: 'arm', emulatorPath: join(d, 'nope'), shimPath }), { message: /does not exist/ });
  const notElf = join(d, 'qemu');
  await writeFile(notElf, 'not an elf file at all..');
  const e = await t.throwsAsync(xbuildLayerEntries({ arch: 'arm', emulatorPath: notElf, shimPath }));
  t.is((e as XbuildError).code, 'NO_EMULATOR');
  await t.throwsAsync(xbuildLayerEntries({ arch: 'arm', emulatorPath: shimPath, shimPath: '/bin/true' }), { message: /not a valid xbuild shim/ });
});

test('installLayerEntries writes files with exact modes, symlinks and dirs into a tree', async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, 'old'), 'x');
  await installLayerEntries(d, [
    { path: 'a/b', type: 'dir', mode: 0o700 },
    { path: 'a/b/f', type: 'file', mode: 0o751, content: Buffer.from('hello') },
    { path: 'a/s', type: 'file', mode: 0o644, size: 3, content: async () => Readable.from([Buffer.from('abc')]) },
    { path: 'old', type: 'symlink', mode: 0o777, linkname: 'a/b/f' },
  ]);
  t.is((await stat(join(d, 'a/b'))).mode & 0o7777, 0o700);
  t.is((await stat(join(d, 'a/b/f'))).mode & 0o7777, 0o751);
  t.is(await readFile(join(d, 'a/b/f'), 'utf8'), 'hello');
  t.is(await readFile(join(d, 'a/s'), 'utf8'), 'abc');
  t.is(await readlink(join(d, 'old')), 'a/b/f');
});

// ---- refusals on real trees (no execve-intercepting emulator needed) ----

async function treeWithLayer(t: Parameters<typeof tmp>[0], arch: 'armhf' | 'arm64', flavor: 'debian-dash' | 'debian-dash-split' | 'busybox', emulator: { arch: 'arm' | 'aarch64'; path: string }) {
  const d = await tmp(t);
  const root = await copyRoot(arch, flavor, d);
  // wrap's entries (built with a note-carrying stand-in, as xbuildLayerEntries refuses anything else), then the
  // test's emulator in its place: these tests check what cross-build-start does inside the image with it
  const entries = await xbuildLayerEntries({ arch: emulator.arch, emulatorPath: await elfSample('synthetic/x86_64-xbuild-note1'), shimPath: await sharedShim() });
  const emuPath = emulatorInImage(emulator.arch);
  await installLayerEntries(root, entries.map((e) => (e.path === emuPath ? { ...e, content: async () => createReadStream(emulator.path) } : e)));
  return root;
}

test('without cross-build-start, /bin/sh of an ARM tree fails with exec format error (the condition xbuild exists for)', async (t) => {
  await assertNoArmBinfmt();
  const root = await treeWithLayer(t, 'armhf', 'debian-dash', { arch: 'arm', path: await stockEmulator('arm') });
  const r = await chrootRun(root, ['/bin/sh', '-c', 'echo hi']);
  t.is(r.code, 126);
  t.regex(r.stderr, /Exec format error/);
});

test('cross-build-start refuses, in one line and changing nothing, when the emulator does not match the image', async (t) => {
  await assertNoArmBinfmt();
  // arm64 image, arm emulator
  const root = await treeWithLayer(t, 'arm64', 'debian-dash', { arch: 'arm', path: await stockEmulator('arm') });
  const before = await snapshotTree(root, { strict: true });
  const r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /^cross-build-start: refusing: this image is aarch64 but \/usr\/bin\/qemu-aarch64-static is missing \(the emulator present is \/usr\/bin\/qemu-arm-static\): wrap the image for its own platform\n$/);
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

test('cross-build-start refuses when the emulator is missing, or is a stock qemu without execve interception', async (t) => {
  await assertNoArmBinfmt();
  const root = await treeWithLayer(t, 'armhf', 'busybox', { arch: 'arm', path: await stockEmulator('arm') });
  const before = await snapshotTree(root, { strict: true });
  let r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^cross-build-start: refusing: \/usr\/bin\/qemu-arm-static is not xbuild's execve-intercepting emulator \(it has no xbuild note\): wrap the image with xbuild\n$/);
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
  await unlink(join(root, 'usr/bin/qemu-arm-static'));
  r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^cross-build-start: refusing: this image is arm but \/usr\/bin\/qemu-arm-static is missing: no such file or directory \(errno 2\) \(wrap the image with xbuild\)\n$/);
  // and a host-native emulator of the wrong kind (not x86_64) is refused too
  await writeFile(join(root, 'usr/bin/qemu-arm-static'), await readFile(join(root, 'bin/busybox')));
  await chmod(join(root, 'usr/bin/qemu-arm-static'), 0o755);
  r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 1);
  t.regex(r.stderr, /is not an x86_64 program the host can run\n$/);
});

test('cross-build-end says clearly when nothing was started, and changes nothing', async (t) => {
  await assertNoArmBinfmt();
  const root = await treeWithLayer(t, 'armhf', 'debian-dash', { arch: 'arm', path: await stockEmulator('arm') });
  const before = await snapshotTree(root, { strict: true });
  const r = await chrootRun(root, ['/usr/bin/cross-build-end']);
  t.is(r.code, 0);
  t.is(r.stdout, 'cross-build-end: cross-build mode is not on (cross-build-start was not run, or cross-build-end already ran): nothing to do\n');
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
  const bad = await chrootRun(root, ['/usr/bin/cross-build-end', '--force']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unexpected argument "--force"/);
  // the dpkg hook's refresh outside cross-build mode is silent and never fails dpkg
  const refresh = await chrootRun(root, ['/usr/bin/cross-build-start', '--refresh']);
  t.deepEqual([refresh.code, refresh.stdout, refresh.stderr], [0, '', '']);
  t.deepEqual(diffSnapshots(before, await snapshotTree(root, { strict: true })), []);
});

test('the shim run as a shell outside cross-build mode says so (exit 127) instead of recursing', async (t) => {
  await assertNoArmBinfmt();
  const root = await treeWithLayer(t, 'armhf', 'debian-dash', { arch: 'arm', path: await stockEmulator('arm') });
  await run('cp', [join(root, 'usr/bin/cross-build-start'), join(root, 'bin/lonely')]);
  const r = await chrootRun(root, ['/bin/lonely', '-c', 'true']);
  t.is(r.code, 127);
  t.regex(r.stderr, /^xbuild-shim: cannot open \/bin\/lonely\.xbuild-orig: no such file or directory \(errno 2\): cross-build mode is not on for \/bin\/lonely \(run cross-build-start\)\n$/);
});

test('the shim runs the emulator with -execve, argv[0] unchanged and the original path (seen by a recording emulator)', async (t) => {
  // The emulator is a host-native recorder carrying the execve note: it prints the argv it got.
  await assertNoArmBinfmt();
  const d = await tmp(t);
  const recorder = await buildRecorderEmulator(d);
  const root = await treeWithLayer(t, 'armhf', 'busybox', { arch: 'arm', path: recorder });
  const started = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(started.code, 0, started.stderr);
  let r = await chrootRun(root, ['/bin/sh', '-c', 'echo hi', 'arg0', 'x y']);
  t.is(r.stdout, `/usr/bin/qemu-arm-static|-execve|${LEVERS_ON}-0|/bin/sh|--|/bin/busybox.xbuild-orig|-c|echo hi|arg0|x y|\n`, r.stderr);
  r = await chrootRun(root, ['/bin/ash', '-l']);
  t.is(r.stdout, `/usr/bin/qemu-arm-static|-execve|${LEVERS_ON}-0|/bin/ash|--|/bin/busybox.xbuild-orig|-l|\n`, r.stderr);
  // a #! script whose interpreter is the shim: the kernel passes the script as AT_EXECFN, argv[0] is the interpreter
  await writeFile(join(root, 'tmp/script'), '#!/bin/sh\necho never\n', { mode: 0o755 });
  r = await chrootRun(root, ['/tmp/script', 'a1']);
  t.is(r.stdout, `/usr/bin/qemu-arm-static|-execve|${LEVERS_ON}-0|/bin/sh|--|/bin/busybox.xbuild-orig|/tmp/script|a1|\n`, r.stderr);
  // a lever's QEMU_* twin in the environment decides instead of the shim: its flag is left out (the emulator reads the variable)
  const [first, ...rest] = EMULATOR_LEVERS;
  r = await chrootRun(root, ['/bin/sh', '-c', 'x'], { env: { [first!.env]: 'off' } });
  t.is(r.stdout, `/usr/bin/qemu-arm-static|-execve|${rest.map((l) => `${l.flag}|on|`).join('')}-0|/bin/sh|--|/bin/busybox.xbuild-orig|-c|x|\n`, r.stderr);
});

test('the xbuild layer refuses an emulator of a series older than the options the shim passes (one line, NO_EMULATOR), and takes the series that added them', async (t) => {
  const d = await tmp(t);
  const old = await standInQemuDir(join(d, 'old'), `execve-intercept series=${SERIES_THE_SHIM_NEEDS - 1} qemu=10.2.2`);
  const err = await t.throwsAsync(xbuildLayerEntries({ arch: 'arm', emulatorPath: join(old, 'qemu-arm-static'), shimPath: await sharedShim() }));
  t.true(err instanceof XbuildError && err.code === 'NO_EMULATOR');
  t.regex(err!.message, new RegExp(`built from patch series ${SERIES_THE_SHIM_NEEDS - 1}; cross-build-start passes ${leversTheEmulatorLacks(SHIM_VERSION, SERIES_THE_SHIM_NEEDS - 1)[0]}`));
  t.notRegex(err!.message, /\n/);
  const ok = await standInQemuDir(join(d, 'ok'), `execve-intercept series=${SERIES_THE_SHIM_NEEDS} qemu=10.2.2`);
  const entries = await xbuildLayerEntries({ arch: 'arm', emulatorPath: join(ok, 'qemu-arm-static'), shimPath: await sharedShim() });
  t.true(entries.some((e) => e.path === emulatorInImage('arm')));
});
