// A writable ARM root tree with the emulator and the test programs inside, and a
// runner that executes `chroot ROOT /usr/bin/qemu-<arch>-static [-execve] ...`.
//
// Layout added to the tree:
//   /usr/bin/qemu-<arch>-static   the emulator under test (where wrap puts it)
//   /opt/xb/<prog>[-static]       cross-compiled test/fixtures/c programs
//   /opt/host/busybox             host-native x86_64 static busybox
// By default a run happens in a private mount namespace (unshare --mount --fork)
// with /proc mounted and /dev bind-mounted, so nothing leaks to the host.
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QemuArch } from '../../src/oci/platform.ts';
import { EMULATOR_LEVERS } from '../../src/contract/in-image.ts';
import { armRoot, hostBusyboxPath, qemuArchOf, testProgramsPath, type DebArch, type RootFlavor } from './arm-root.ts';

export interface Guest {
  root: string;
  arch: DebArch;
  qemuArch: QemuArch;
  /** Path of the emulator inside the tree, e.g. /usr/bin/qemu-arm-static. */
  emulator: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The host command line, for failure messages. */
  command: string;
}

export interface RunOptions {
  /** Pass -execve (default true). */
  execve?: boolean;
  /** Extra emulator options placed before the guest program (e.g. ['-cpu', 'max']). */
  qemuArgs?: string[];
  /** Guest environment additions (the base is a fixed, minimal environment). */
  env?: Record<string, string>;
  /** Mount /proc and bind /dev inside a private mount namespace (default true). */
  mounts?: boolean;
  input?: string;
  timeoutMs?: number;
}

export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function prepareGuest(arch: DebArch, flavor: RootFlavor, hostEmulator: string): Promise<Guest> {
  const root = await armRoot(arch, flavor);
  const qemuArch = qemuArchOf(arch);
  const emulator = `/usr/bin/qemu-${qemuArch}-static`;
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await copyFile(hostEmulator, join(root, emulator));
  await chmod(join(root, emulator), 0o755);
  await addTestPrograms(root, arch);
  await mkdir(join(root, 'opt/host'), { recursive: true });
  await copyFile(await hostBusyboxPath(), join(root, 'opt/host/busybox'));
  await chmod(join(root, 'opt/host/busybox'), 0o755);
  return { root, arch, qemuArch, emulator };
}

/** Copies the cross-compiled test/fixtures/c programs of `arch` into ROOT/opt/xb. */
export async function addTestPrograms(root: string, arch: DebArch): Promise<void> {
  const progs = await testProgramsPath(arch);
  await mkdir(join(root, 'opt/xb'), { recursive: true });
  for (const f of await readdir(progs)) {
    if (f.startsWith('.')) continue;
    await copyFile(join(progs, f), join(root, 'opt/xb', f));
    await chmod(join(root, 'opt/xb', f), 0o755);
  }
}

/** Runs `argv` (guest program + args) under the guest's emulator in a chroot. */
export function runGuest(g: Guest, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const emu = [g.emulator, ...(opts.execve === false ? [] : ['-execve']), ...(opts.qemuArgs ?? []), ...argv];
  return runInRoot(g.root, emu, opts);
}

/** Runs a host-side command `cmd` inside chroot ROOT (no emulator added). */
export function runInRoot(root: string, cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C', ...(opts.env ?? {}) };
  // Host tools by absolute path: the guest's PATH (in env) must not pick them.
  const [mount, chroot] = [hostTool('mount'), hostTool('chroot')];
  const wrapper = `set -e; r=$1; shift; ${mount} -t proc proc "$r/proc"; ${mount} --rbind /dev "$r/dev"; exec ${chroot} "$r" "$@"`;
  const host = opts.mounts === false
    ? [chroot, root, ...cmd]
    : [hostTool('unshare'), '--mount', '--fork', '--', '/bin/sh', '-c', wrapper, 'sh', root, ...cmd];
  return runHost(host, { env, input: opts.input, timeoutMs: opts.timeoutMs });
}

// At most this many runs at once: ava starts every test of a file together and the
// machine has 2 cores shared with others; timeouts apply from the actual start.
const MAX_PARALLEL = 4;
let running = 0;
const waiting: Array<() => void> = [];

export async function runHost(cmd: string[], o: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  if (running >= MAX_PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await spawnCollect(cmd, o);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/**
 * XBUILD_TEST_LEVERS=on runs every emulator these helpers start with all of the
 * emulator's levers on (their QEMU_* twins in the environment, unless the
 * caller set one): how the behaviour suite is run with the levers on.
 * XBUILD_TEST_LEVERS=verify does the same and adds QEMU_TB_CACHE_VERIFY=1:
 * every block the translation cache loads is translated anyway and the
 * emulator aborts if the two differ (patches/0030).
 */
function testLeverEnv(): Record<string, string> {
  const mode = process.env.XBUILD_TEST_LEVERS;
  if (mode !== 'on' && mode !== 'verify') return {};
  return { ...Object.fromEntries(EMULATOR_LEVERS.map((l) => [l.env, 'on'])), ...(mode === 'verify' ? { QEMU_TB_CACHE_VERIFY: '1' } : {}) };
}

function withTestLevers(env: Record<string, string>): Record<string, string> {
  return { ...testLeverEnv(), ...env };
}

/** The QEMU_* variables XBUILD_TEST_LEVERS itself puts into every environment ("NAME=value"). */
export function testLeverVariables(): string[] {
  return Object.entries(testLeverEnv()).map(([k, v]) => `${k}=${v}`);
}

/** The options XBUILD_TEST_LEVERS makes every emulator record for its children (what they add to an exec's arguments). */
export function testLeverOptions(): string[] {
  return Object.keys(testLeverEnv()).length ? EMULATOR_LEVERS.flatMap((l) => [l.flag, 'on']) : [];
}

/** Absolute path of a host tool (the guest's PATH must not decide which host binary runs). */
function hostTool(name: string): string {
  if (name.includes('/')) return name;
  for (const dir of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  throw new Error(`host tool ${name} not found on PATH (run scripts/install-system-deps.sh)`);
}

function spawnCollect(cmd: string[], o: { env?: Record<string, string>; input?: string; timeoutMs?: number }): Promise<RunResult> {
  const command = cmd.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(hostTool(cmd[0]!), cmd.slice(1), { env: withTestLevers(o.env ?? { PATH: process.env.PATH ?? GUEST_PATH }), detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      stderr += `\n[killed after ${o.timeoutMs ?? 60_000} ms]`;
    }, o.timeoutMs ?? 60_000);
    child.on('error', (err) => { clearTimeout(timer); reject(new Error(`${command}: ${err.message}`)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, command });
    });
    child.stdin.on('error', () => { /* child may exit before reading */ });
    child.stdin.end(o.input ?? '');
  });
}

/** One-line description of a run for assertion messages. */
export function describeRun(r: RunResult): string {
  const clip = (x: string) => (x.length <= 2400 ? x : `${x.slice(0, 800)}\n[... ${x.length - 2400} bytes ...]\n${x.slice(-1600)}`);
  return `command: ${r.command}\nexit: ${r.code ?? r.signal}\nstdout: ${clip(r.stdout)}\nstderr: ${clip(r.stderr)}`;
}

/** `/bin/sh -c SCRIPT` inside the guest. */
export function sh(g: Guest, script: string, opts?: RunOptions): Promise<RunResult> {
  return runGuest(g, ['/bin/sh', '-c', script], opts);
}

/** Writes a file into the guest tree (path is guest-absolute). */
export async function put(g: Guest, path: string, content: string | Buffer, mode = 0o755): Promise<void> {
  await mkdir(join(g.root, path, '..'), { recursive: true });
  await writeFile(join(g.root, path), content);
  await chmod(join(g.root, path), mode);
}

/** The run exited 0 and printed exactly `stdout` (or something matching it). */
export function ok(t: ExecutionContext, r: RunResult, stdout: string | RegExp): void {
  const msg = describeRun(r);
  if (typeof stdout === 'string') t.is(r.stdout, stdout, msg);
  else t.regex(r.stdout, stdout, msg);
  t.is(r.code, 0, msg);
}
