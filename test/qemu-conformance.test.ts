// An outside conformance suite for exec: the Linux kernel's own
// tools/testing/selftests/exec (execveat, non-regular, null-argv,
// recursion-depth, load_address.*), from Debian's `linux` source package, built
// with the kernel's Makefile (scripts/fixtures/kselftest-exec.sh) for x86_64,
// armhf and arm64.
//
// The x86_64 build runs natively (the kernel answers); the armhf/arm64 builds
// run under the patched emulator (-execve) in a Debian tree set up as a builder
// sets up a RUN step (test/helpers/builder-chroot.ts: the root a mount point,
// /proc, /dev with /dev/fd). Every check that passes natively must pass under
// the emulator, compared check by check (by number: the descriptions hold
// paths and descriptor numbers). A check failing or skipped natively is logged,
// not counted. Programs the Debian toolchain cannot build for an arch are
// logged too, and must be exactly the known ones.
//
// The suite's script test, binfmt_script.py (#! lines at and around the
// kernel's 256-byte buffer: truncation, whitespace, a #! interpreter that is
// itself a perl script), needs python3 and perl: it runs natively with the
// host's python3 and perl, and under the emulator (python3 itself emulated, each
// of its `sh -c ./script` execs intercepted) in Debian's workload tree with
// build-essential python3 perl nodejs installed (scripts/fixtures/debian-workload-tree.sh,
// a read-only cached tree: the run gets a throw-away overlay of it).
import test, { type ExecutionContext } from 'ava';
import { chmod, copyFile, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { armRoot, qemuArchOf, runFixtureScript, type DebArch } from './helpers/arm-root.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { runInBuilderOverlay, runInBuilderRoot } from './helpers/builder-chroot.ts';
import { findEmulator } from './helpers/emulators.ts';
import { describeRun, runHost, type RunResult } from './helpers/guest.ts';
import { parseKtap, type KtapRun } from './helpers/ktap.ts';
import { workloadTreePath } from './helpers/workload.ts';

const ARCHES: DebArch[] = ['armhf', 'arm64'];
const PROGRAMS = ['execveat', 'non-regular', 'null-argv', 'recursion-depth',
  'load_address.0x1000', 'load_address.0x200000', 'load_address.0x1000000',
  'load_address.static.0x1000', 'load_address.static.0x200000', 'load_address.static.0x1000000'];
/** Debian bookworm's armhf glibc ships no rcrt1.o: -static-pie cannot link (a toolchain gap, not the emulator's). */
const KNOWN_UNBUILDABLE: Record<DebArch | 'amd64', string[]> = {
  amd64: [], arm64: [], armel: [], riscv64: [], s390x: [], ppc64el: [],
  armhf: ['load_address.static.0x1000', 'load_address.static.0x200000', 'load_address.static.0x1000000'],
};
const SUITE_DIR = '/opt/kselftest-exec';

const SCRIPT_TEST = 'binfmt_script.py';
const suiteOf = (arch: DebArch | 'amd64') => runFixtureScript('kselftest-exec.sh', [arch, '--print-path']);
const unbuilt = async (dir: string) => (await readFile(join(dir, 'BUILD-FAILED'), 'utf8')).split('\n').filter(Boolean);

interface Setup { nativeDir: string; roots: Map<DebArch, string>; unbuilt: Map<DebArch | 'amd64', string[]> }
let setup: Promise<Setup> | undefined;
const native = new Map<string, Promise<RunResult>>();

function prepare(): Promise<Setup> {
  setup ??= (async () => {
    await assertNoArmBinfmt();
    const s: Setup = { nativeDir: '', roots: new Map(), unbuilt: new Map() };
    const amd64 = await suiteOf('amd64');
    s.unbuilt.set('amd64', await unbuilt(amd64));
    s.nativeDir = await mkdtemp('/tmp/xbconf-native-');
    await runHost(['/bin/cp', '-a', `${amd64}/.`, s.nativeDir]);
    for (const arch of ARCHES) {
      const suite = await suiteOf(arch);
      s.unbuilt.set(arch, await unbuilt(suite));
      const root = await armRoot(arch, 'debian-bash');
      const emulator = `usr/bin/qemu-${qemuArchOf(arch)}-static`;
      await copyFile(await findEmulator(qemuArchOf(arch)), join(root, emulator));
      await chmod(join(root, emulator), 0o755);
      await mkdir(join(root, SUITE_DIR), { recursive: true });
      await runHost(['/bin/cp', '-a', `${suite}/.`, join(root, SUITE_DIR)]);
      s.roots.set(arch, root);
    }
    return s;
  })();
  return setup;
}

test.after.always(async () => {
  if (!setup) return;
  const s = await setup.catch(() => undefined);
  if (!s) return;
  // rm(1): execveat's PATH_MAX-long directories are beyond what Node's rm can name.
  for (const dir of [...s.roots.values(), s.nativeDir].filter(Boolean)) await runHost(['/bin/rm', '-rf', '--one-file-system', dir]);
});

/** The x86_64 build run by the kernel, once per program (all arches compare with it). */
function runNative(s: Setup, prog: string, argv = [`./${prog}`], subdir = '.'): Promise<RunResult> {
  let r = native.get(prog);
  if (!r) {
    r = runHost(['/usr/bin/env', '-C', join(s.nativeDir, subdir), ...argv], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 120_000 });
    native.set(prog, r);
  }
  return r;
}

/** Checks passing natively that do not pass under the emulator (the KTAP runs compared by check number); logs what is not counted. */
function compareChecks(t: ExecutionContext, kernel: RunResult, emu: RunResult): void {
  const k = parseKtap(kernel.stdout);
  const e = parseKtap(emu.stdout);
  t.true(k.checks.size > 0 && k.plan === k.checks.size, `the native run reports its whole plan:\n${describeRun(kernel)}`);
  const counted = [...k.checks.values()].filter((c) => c.result === 'pass');
  const notCounted = [...k.checks.values()].filter((c) => c.result !== 'pass');
  const failing = counted.filter((c) => e.checks.get(c.n)?.result !== 'pass')
    .map((c) => `${c.n} native "${c.desc}" -> ${e.checks.get(c.n) ? `${e.checks.get(c.n)!.result} "${e.checks.get(c.n)!.desc}"` : 'missing'}`);
  t.log(`${counted.length} checks pass natively${notCounted.length ? `; not counted (${notCounted.length}): ${notCounted.map((c) => `${c.n} ${c.result} ${c.desc}`).join('; ')}` : ''}; under the emulator ${counted.length - failing.length}/${counted.length}`);
  t.deepEqual(failing, [], `kernel:\n${summary(k)}\nemulator:\n${describeRun(emu)}`);
}

function summary(run: KtapRun): string {
  return [...run.checks.values()].map((c) => `${c.result.padEnd(5)} ${c.n} ${c.desc}`).join('\n');
}

for (const arch of ARCHES) {
  const qemuArch = qemuArchOf(arch);
  test(`${arch}: programs of the suite the toolchain cannot build are exactly the known ones`, async (t) => {
    const s = await prepare();
    t.deepEqual(s.unbuilt.get('amd64'), [], 'the native build is complete');
    t.deepEqual(s.unbuilt.get(arch), KNOWN_UNBUILDABLE[arch]);
    if (KNOWN_UNBUILDABLE[arch].length) t.log(`not built for ${arch} (not run, not counted): ${KNOWN_UNBUILDABLE[arch].join(', ')}`);
  });

  for (const prog of PROGRAMS) {
    if (KNOWN_UNBUILDABLE[arch].includes(prog)) continue;
    test(`${arch}: kselftest exec/${prog}: every check passing natively passes under qemu-${qemuArch}-static -execve`, async (t) => {
      const s = await prepare();
      const kernel = await runNative(s, prog);
      const emu = await runInBuilderRoot(s.roots.get(arch)!, [`/usr/bin/qemu-${qemuArch}-static`, '-execve', `./${prog}`],
        { cwd: SUITE_DIR, timeoutMs: 180_000 });
      compareChecks(t, kernel, emu);
    });
  }
}

// binfmt_script.py: the host's python3 and perl natively, the workload tree's under the emulator.
for (const arch of ['armhf', 'arm64'] as const) {
  const qemuArch = qemuArchOf(arch);
  test(`${arch}: kselftest exec/${SCRIPT_TEST} (python3 + perl): every check passing natively passes under qemu-${qemuArch}-static -execve`, async (t) => {
    const s = await prepare();
    const script = join(await suiteOf('amd64'), SCRIPT_TEST);
    // in a directory of its own: the script writes and removes files in its working directory
    await mkdir(join(s.nativeDir, 'script-run'), { recursive: true });
    const kernel = await runNative(s, SCRIPT_TEST, ['python3', `../${SCRIPT_TEST}`], 'script-run');
    const tree = await workloadTreePath(arch, 'installed');
    const emulator = `/usr/bin/qemu-${qemuArch}-static`;
    const dir = '/opt/kselftest-exec-script';
    const emu = await runInBuilderOverlay(tree, [[await findEmulator(qemuArch), emulator], [script, `${dir}/${SCRIPT_TEST}`]],
      [emulator, '-execve', '/usr/bin/python3', `./${SCRIPT_TEST}`], { cwd: dir, timeoutMs: 300_000 });
    compareChecks(t, kernel, emu);
  });
}
