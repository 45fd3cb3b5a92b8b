// Running a wrapped image locally without binfmt_misc, with existing engines
// (README "Running a wrapped image locally"): the busybox linux/arm/v7
// fixture is wrapped into the test registry, then
//   podman run --entrypoint /usr/bin/qemu-arm-static IMAGE -execve CMD...
//   buildah from IMAGE + buildah run --isolation chroot CTR -- /usr/bin/qemu-arm-static -execve CMD...
// must print what the ARM programs inside say (`uname -m` = armv7l, a pipe
// through another applet), while the same command without the emulator is
// refused by the kernel (exec format error). The docker form is tested in
// test/e2e-unwrap.test.ts. Both engines use a private storage root (vfs),
// removed afterwards; podman runs with --network none, so no bridge or
// firewall rule is set up on the host.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCli } from '../src/cli/run.ts';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { capture } from './helpers/capture.ts';
import { busyboxImages } from './helpers/e2e-fixtures.ts';
import { requireTool, run, type RunResult } from './helpers/e2e-exec.ts';
import { unmountUnder } from './helpers/e2e-mounts.ts';
import { findEmulator } from './helpers/emulators.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';

const NAME = 'busybox-armv7';
const PLATFORM = 'linux/arm/v7';
const EMULATOR = '/usr/bin/qemu-arm-static';
/** Two programs of the image, the second started by the first (through a pipe). */
const SCRIPT = 'echo "XB machine=$(uname -m)"; echo abc | rev | sed "s/^/XB piped=/"';
const LIMIT = { timeoutMs: 3 * 60_000 };

let dir = '';
let reg: TestRegistry | undefined;
let image = '';
let env: NodeJS.ProcessEnv = {};
const podmanBase = () => ['--root', join(dir, 'podman-root'), '--runroot', join(dir, 'podman-run'), '--tmpdir', join(dir, 'podman-tmp'),
  '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
const buildahBase = () => ['--root', join(dir, 'buildah-root'), '--runroot', join(dir, 'buildah-run'), '--storage-driver', 'vfs'];
const podman = (args: string[]) => run('/usr/bin/podman', [...podmanBase(), ...args], { ...LIMIT, env });
const buildah = (args: string[]) => run('/usr/bin/buildah', [...buildahBase(), ...args], { ...LIMIT, env });

test.before(async (t) => {
  t.timeout(10 * 60_000, 'busybox fixture, registry, wrap');
  await assertNoArmBinfmt();
  await requireTool('/usr/bin/podman', 'podman');
  await requireTool('/usr/bin/buildah', 'buildah');
  dir = await mkdtemp(join(tmpdir(), 'xbuild-run-local-'));
  const conf = join(dir, 'registries.conf');
  await writeFile(conf, 'unqualified-search-registries = []\n');
  env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, TMPDIR: dir, REGISTRIES_CONFIG_PATH: conf };
  reg = await startRegistry();
  image = `${reg.host}/local/${NAME}:wrapped`;
  const fixtures = await busyboxImages();
  const c = capture();
  c.ctx.env = { HOME: process.env.HOME, XBUILD_CACHE_DIR: process.env.XBUILD_CACHE_DIR, PATH: process.env.PATH };
  const code = await runCli(['wrap', `oci:${join(fixtures, NAME)}:${NAME}`, '-t', image, '--qemu-dir', dirname(await findEmulator('arm')), '-q'], c.ctx);
  if (code !== 0) throw new Error(`xbuild wrap exited ${code}: ${c.stderr()}`);
});

test.after.always(async () => {
  if (dir) {
    await podman(['rm', '--all', '--force']).catch(() => undefined);
    await podman(['rmi', '--all', '--force']).catch(() => undefined);
    await buildah(['rm', '--all']).catch(() => undefined);
    await buildah(['rmi', '--all', '--force']).catch(() => undefined);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  }
  await reg?.stop();
});

function ranArm(t: import('ava').ExecutionContext, r: RunResult): void {
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^XB machine=armv7l$/m);
  t.regex(r.stdout, /^XB piped=cba$/m);
}

function refusedByKernel(t: import('ava').ExecutionContext, r: RunResult): void {
  t.not(r.code, 0, 'the ARM shell ran without the emulator: the host runs ARM binaries by itself');
  t.regex(r.stderr, /exec format error/);
  t.notRegex(r.stdout, /XB machine/);
}

test.serial('podman run --entrypoint /usr/bin/qemu-arm-static IMAGE -execve CMD runs the ARM programs; without the entrypoint the kernel refuses them', async (t) => {
  // podman raises RLIMIT_NOFILE and RLIMIT_NPROC by default, which a container used as the test machine may not allow
  const common = ['run', '--rm', '--tls-verify=false', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--platform', PLATFORM];
  ranArm(t, await podman([...common, '--entrypoint', EMULATOR, image, '-execve', '/bin/sh', '-c', SCRIPT]));
  refusedByKernel(t, await podman([...common, image, '/bin/sh', '-c', SCRIPT]));
});

test.serial('buildah from IMAGE, then buildah run --isolation chroot CTR -- /usr/bin/qemu-arm-static -execve CMD runs the ARM programs; without it the kernel refuses them', async (t) => {
  const from = await buildah(['from', '--quiet', '--tls-verify=false', '--platform', PLATFORM, image]);
  t.is(from.code, 0, from.stderr);
  const ctr = from.stdout.trim().split('\n').pop()!;
  try {
    ranArm(t, await buildah(['run', '--isolation', 'chroot', ctr, '--', EMULATOR, '-execve', '/bin/sh', '-c', SCRIPT]));
    refusedByKernel(t, await buildah(['run', '--isolation', 'chroot', ctr, '--', '/bin/sh', '-c', SCRIPT]));
  } finally {
    await buildah(['rm', ctr]);
  }
});
