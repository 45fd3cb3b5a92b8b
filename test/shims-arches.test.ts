// The in-image contract for riscv64, ppc64le and s390x, and mixed arm64 + armhf
// images (issue 12), driven as a builder drives it (chroot ROOT argv...) on real
// Debian trees (scripts/fixtures/debian-rootfs.sh), after showing that the host
// kernel refuses each tree's /bin/sh itself:
//   - cross-build-start maps the target's /bin/sh (class, byte order, e_machine;
//     s390x is big-endian) to its emulator, shell-form RUN lines run, end restores;
//   - cross-build-start refuses a tree whose emulator is another target's;
//   - an arm64 tree holding Debian's armhf busybox runs it in a shell-form RUN when
//     the layer also carries qemu-arm-static (wrap --extra-emulators arm), and says
//     clearly which emulator is missing when it does not.
import test, { type ExecutionContext } from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureShim } from '../src/shims/build.ts';
import type { QemuArch } from '../src/oci/platform.ts';
import { installXbuildLayer } from './helpers/install-layer.ts';
import { assertHostCannotExecArm, assertNoArmBinfmt } from './helpers/binfmt.ts';
import { copyTree, debianRootPath, type DebArch, type NewRootFlavor } from './helpers/arm-root.ts';
import { cacheRoot } from './helpers/shims-roots.ts';
import { patchedEmulator } from './helpers/shims-emulator.ts';
import { chrootRun, diffSnapshots, outsideTbCache, slot, snapshotTree, type RunResult } from './helpers/shims-chroot.ts';
import { buildRecorderEmulator, LEVERS_ON } from './helpers/recorder-emulator.ts';

const TARGETS: Array<{ deb: DebArch; qemu: QemuArch; uname: string }> = [
  { deb: 'riscv64', qemu: 'riscv64', uname: 'riscv64' },
  { deb: 'ppc64el', qemu: 'ppc64le', uname: 'ppc64le' },
  { deb: 's390x', qemu: 's390x', uname: 's390x' },
];


const show = (r: RunResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

async function tree(t: ExecutionContext, arch: DebArch, flavor: NewRootFlavor = 'debian-dash'): Promise<string> {
  await assertNoArmBinfmt();
  const root = await copyTree(await debianRootPath(arch, flavor), 'xbuild-shims-arches-');
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await assertHostCannotExecArm(join(root, 'usr/bin/dash'));
  return root;
}

const shim = () => ensureShim({ cacheRoot: cacheRoot() });

for (const a of TARGETS) {
  test(`${a.qemu}: cross-build-start picks qemu-${a.qemu}-static for /bin/sh, shell-form RUN lines run, cross-build-end restores byte for byte`, (t) => slot(async () => {
    const root = await tree(t, a.deb);
    await installXbuildLayer(root, { arch: a.qemu, emulatorPath: await patchedEmulator(a.qemu), shimPath: await shim() });
    const before = await snapshotTree(root, { strict: true });
    let r = await chrootRun(root, ['/bin/sh', '-c', 'echo should-not-run']);
    t.is(r.code, 126, show(r));
    r = await chrootRun(root, ['/usr/bin/cross-build-start']);
    t.is(r.code, 0, show(r));
    t.regex(r.stdout, new RegExp(`now start under /usr/bin/qemu-${a.qemu}-static`), show(r));
    r = await chrootRun(root, ['/bin/sh', '-c', 'echo "pipeline: $(echo abc | tr a-z A-Z)"; uname -m; bash -c \'exec -a custom-name sh -c "echo argv0=\\$0"\'; exit 3']);
    t.is(r.code, 3, show(r));
    t.is(r.stdout, `pipeline: ABC\n${a.uname}\nargv0=custom-name\n`, show(r));
    r = await chrootRun(root, ['/usr/bin/cross-build-end']);
    t.is(r.code, 0, show(r));
    t.deepEqual(outsideTbCache(diffSnapshots(before, await snapshotTree(root, { strict: true }))), []);
  }));
}

// The mapping alone, without emulation: a host-native recorder with the xbuild note stands
// in for each emulator (test/helpers/recorder-emulator.ts) and prints the argv the shim gave it.
for (const a of [...TARGETS, { deb: 'arm64' as DebArch, qemu: 'aarch64' as QemuArch, uname: 'aarch64' }]) {
  test(`${a.qemu}: the shim maps ${a.deb}'s /bin/sh (ELF class, byte order, e_machine) to qemu-${a.qemu}-static with -execve, argv[0] and the original`, (t) => slot(async () => {
    const root = await tree(t, a.deb, a.deb === 'arm64' ? 'arm64-armhf' : 'debian-dash');
    const recorder = await buildRecorderEmulator(await copyTree(root, 'xbuild-recorder-'));
    // every other target's emulator is there too (a recorder each): the shim must pick by the ELF, not by what exists
    const extraEmulators: Partial<Record<QemuArch, string>> = {};
    for (const o of ['arm', 'aarch64', 'riscv64', 'ppc64le', 's390x'] as QemuArch[]) if (o !== a.qemu) extraEmulators[o] = recorder;
    await installXbuildLayer(root, { arch: a.qemu, emulatorPath: recorder, shimPath: await shim(), extraEmulators });
    let r = await chrootRun(root, ['/usr/bin/cross-build-start']);
    t.is(r.code, 0, show(r));
    r = await chrootRun(root, ['/bin/sh', '-c', 'echo hi']);
    t.is(r.code, 0, show(r));
    t.regex(r.stdout, new RegExp(`^/usr/bin/qemu-${a.qemu}-static\\|-execve\\|${LEVERS_ON.replace(/\|/g, '\\|')}-0\\|/bin/sh\\|--\\|/(usr/)?bin/dash\\.xbuild-orig\\|-c\\|echo hi\\|\\n$`), show(r));
    r = await chrootRun(root, ['/usr/bin/cross-build-end']);
    t.is(r.code, 0, show(r));
  }));
}

test('cross-build-start refuses a riscv64 tree that carries only the s390x emulator, and names both', (t) => slot(async () => {
  const root = await tree(t, 'riscv64');
  await installXbuildLayer(root, { arch: 's390x', emulatorPath: await patchedEmulator('s390x'), shimPath: await shim() });
  const r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 1, show(r));
  t.regex(r.stderr, /refusing: this image is riscv64 but \/usr\/bin\/qemu-riscv64-static is missing \(the emulator present is \/usr\/bin\/qemu-s390x-static\)/, show(r));
}));

test('cross-build-start refuses an s390x (big-endian) tree wrapped with the ppc64le emulator', (t) => slot(async () => {
  const root = await tree(t, 's390x');
  await installXbuildLayer(root, { arch: 'ppc64le', emulatorPath: await patchedEmulator('ppc64le'), shimPath: await shim() });
  const r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 1, show(r));
  t.regex(r.stderr, /this image is s390x but \/usr\/bin\/qemu-s390x-static is missing/, show(r));
}));

async function mixedTree(t: ExecutionContext, withArm: boolean): Promise<string> {
  const root = await tree(t, 'arm64', 'arm64-armhf');
  await assertHostCannotExecArm(join(root, 'usr/bin/busybox-armhf'));
  await installXbuildLayer(root, {
    arch: 'aarch64', emulatorPath: await patchedEmulator('aarch64'), shimPath: await shim(),
    ...(withArm ? { extraEmulators: { arm: await patchedEmulator('arm') } } : {}),
  });
  const r = await chrootRun(root, ['/usr/bin/cross-build-start']);
  t.is(r.code, 0, show(r));
  return root;
}

test('arm64 image + qemu-arm-static (--extra-emulators arm): an armhf program runs in a shell-form RUN, argv[0] and exit status kept', (t) => slot(async () => {
  const root = await mixedTree(t, true);
  const r = await chrootRun(root, ['/bin/sh', '-c', 'uname -m; busybox-armhf uname -m; ln -s /usr/bin/busybox-armhf /tmp/expr; /tmp/expr 6 \\* 7; busybox-armhf sh -c "busybox-armhf uname -m; uname -m; exit 4"; echo rc=$?']);
  t.is(r.code, 0, show(r));
  // the armhf shell's own child runs as armv7l; the image's (arm64) uname it execs goes back to the aarch64 emulator
  t.is(r.stdout, 'aarch64\narmv7l\n42\narmv7l\naarch64\nrc=4\n', show(r));
}));

test('arm64 image without qemu-arm-static: the armhf program fails, and the emulator says which emulator is missing', (t) => slot(async () => {
  const root = await mixedTree(t, false);
  const r = await chrootRun(root, ['/bin/sh', '-c', 'busybox-armhf uname -m']);
  t.not(r.code, 0, show(r));
  t.notRegex(r.stdout, /armv7l/, show(r));
  t.regex(r.stderr, /qemu: \/usr\/bin\/busybox-armhf is a program for arm, and there is no emulator \/usr\/bin\/qemu-arm-static beside this one to run it \(xbuild wrap --extra-emulators arm adds it\)/, show(r));
  const b = await chrootRun(root, ['/bin/bash', '-c', 'busybox-armhf uname -m']);
  t.is(b.code, 126, show(b));
  t.regex(b.stderr, /cannot execute binary file: Exec format error/, show(b));
}));
