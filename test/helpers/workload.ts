// Real Debian workloads in debootstrapped trees (scripts/fixtures/debian-workload-tree.sh):
// fixture paths, the guest programs of test/fixtures/workloads, a runner under xbuild's
// emulator (-execve, no binfmt_misc) and the crash signatures a run must not show.
// bench/workloads adds the stock-QEMU + binfmt_misc (user namespace) comparator.
import { chmod, copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { qemuArchOf, REPO_ROOT, runFixtureScript } from './arm-root.ts';
import { GUEST_PATH, runHost, type RunResult } from './guest.ts';

export type WorkloadArch = 'armhf' | 'arm64';
export type TreeStage = 'base' | 'installed';

/** The packages of the apt-get install workload (the base stage has their .debs downloaded). */
export const WORKLOAD_PACKAGES = ['build-essential', 'python3', 'perl', 'nodejs'];
/** Where test/fixtures/workloads is copied inside a tree. */
export const GUEST_PROGRAMS = '/root/wl';
export const GUEST_ENV = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };

// A cold fixture runs debootstrap's second stage and maybe an apt-get install under emulation.
const FIXTURE_TIMEOUT_MS = 90 * 60_000;

/** Cached (read-only) workload tree; builds it on first use. */
export function workloadTreePath(arch: WorkloadArch, stage: TreeStage): Promise<string> {
  return runFixtureScript('debian-workload-tree.sh', [arch, '--print-path', '--stage', stage], process.env, FIXTURE_TIMEOUT_MS);
}

/** Directory with Debian's stock (unpatched) qemu-arm-static and qemu-aarch64-static of an upstream version. */
export function stockQemuPath(version: string): Promise<string> {
  return runFixtureScript('stock-qemu.sh', [version, '--print-path'], process.env, 10 * 60_000);
}

/** Copies test/fixtures/workloads into ROOT/root/wl. */
export async function installPrograms(root: string): Promise<void> {
  const src = join(REPO_ROOT, 'test', 'fixtures', 'workloads');
  await mkdir(join(root, GUEST_PROGRAMS), { recursive: true });
  for (const f of await readdir(src)) await copyFile(join(src, f), join(root, GUEST_PROGRAMS, f));
}

/** Puts xbuild's emulator into ROOT where a builder puts it; returns its guest path. */
export async function installEmulator(root: string, arch: WorkloadArch, hostEmulator: string): Promise<string> {
  const inGuest = `/usr/bin/qemu-${qemuArchOf(arch)}-static`;
  await copyFile(hostEmulator, join(root, inGuest));
  await chmod(join(root, inGuest), 0o755);
  return inGuest;
}

// mount /proc (own pid namespace) and the host's /dev, then chroot; "$@" is the command
// binfmt_misc entries as Debian's qemu-user-binfmt registers them (magic, mask)
export const BINFMT: Record<WorkloadArch, [string, string]> = {
  armhf: [String.raw`\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00`,
    String.raw`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`],
  arm64: [String.raw`\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00`,
    String.raw`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`],
};

export const CHROOT_WRAPPER = 'set -e; r=$1; shift; mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; exec chroot "$r" "$@"';

/** Runs guest shell SCRIPT in ROOT under xbuild's emulator (-execve, then emulatorArgs), private mount + pid namespaces. */
export function runXbuild(root: string, emulatorInGuest: string, script: string, timeoutMs: number, emulatorArgs: readonly string[] = []): Promise<RunResult> {
  return runHost(['unshare', '--mount', '--pid', '--fork', '--', '/bin/sh', '-c', CHROOT_WRAPPER, 'sh', root, emulatorInGuest, '-execve', ...emulatorArgs, '/bin/sh', '-c', script],
    { env: GUEST_ENV, timeoutMs });
}

// What an emulated program's crash looks like (QEMU's own report, the shell's, the kernel's)
const CRASH = /uncaught target signal|qemu: .*(fault|signal|abort|error)|Segmentation fault|core dumped|Illegal instruction|Bus error|Trace\/breakpoint trap|Aborted/i;

/** The output lines that show a crash (empty: none). */
export function crashLines(r: RunResult): string[] {
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => CRASH.test(l)).slice(0, 10);
}
