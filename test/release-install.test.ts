// The release as a user meets it: `npm run release` tarballs installed with npm
// into an empty prefix by an unprivileged user with an empty HOME, outside the
// repository, with every C compiler hidden from PATH; then the installed xbuild
// wraps and verifies armhf and arm64 images (OCI layout in and out, and through
// a real registry), takes emulators and shim from the platform package, and
// compiles nothing. Last, a platform package of another version is refused.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { compilerFreePath, COMPILER, makeRelease, unprivilegedUser, type Release } from './helpers/release.ts';
import { startRegistry, type TestRegistry } from './helpers/registry.ts';

const run = promisify(execFile);

let work: string;
let rel: Release;
let reg: TestRegistry | undefined;
let user: { uid: number; gid: number };
let env: NodeJS.ProcessEnv;
let images: string;

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xbuild-release-install-'));
  rel = await makeRelease(join(work, 'release'));
  user = await unprivilegedUser();
  const { stdout } = await run('bash', ['scripts/fixtures/busybox-images.sh'], { maxBuffer: 1 << 24 });
  images = stdout.trim().split('\n').pop()!;
  // everything the user touches lives in `home` (an empty HOME) and `u` (owned by the user)
  for (const d of ['home', 'u', 'u/prefix', 'u/in', 'u/out']) await mkdir(join(work, d), { recursive: true });
  await copyFile(rel.cli, join(work, 'u', 'xbuild.tgz'));
  await copyFile(rel.platform, join(work, 'u', 'xbuild-linux-x64.tgz'));
  for (const n of ['busybox-armv7', 'busybox-arm64']) await cp(join(images, n), join(work, 'u', 'in', n), { recursive: true });
  await run('chown', ['-R', `${user.uid}:${user.gid}`, join(work, 'home'), join(work, 'u')]);
  await chown(work, 0, 0);
  await chmod(work, 0o755); // mkdtemp gives 0700: the user must reach u/ and path/
  env = { HOME: join(work, 'home'), PATH: await compilerFreePath(join(work, 'path')), LANG: 'C.UTF-8', npm_config_update_notifier: 'false' };
});
test.after.always(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs a command as the unprivileged user with the test's environment only. */
async function asUser(cmd: string[], cwd = join(work, 'u')): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--inh-caps=-all', '--', ...cmd],
      { env, cwd, maxBuffer: 1 << 26, timeout: 10 * 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as Error & { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? err.message };
  }
}

const xbuild = (args: string[]) => asUser([join(work, 'u', 'prefix', 'bin', 'xbuild'), ...args]);

test.serial('install: npm install -g --prefix (offline) by an unprivileged user, empty HOME, no compiler on PATH, outside the repo', async (t) => {
  await assertNoArmBinfmt();
  const who = await asUser(['sh', '-c', 'id -u; echo "$HOME"; ls -A "$HOME" | wc -l; for c in gcc cc c99 clang tcc g++ arm-linux-gnueabihf-gcc x86_64-linux-gnu-gcc; do command -v $c; done; true']);
  const [uid, home, entries, ...found] = who.stdout.trim().split('\n');
  t.not(uid, '0', 'not root');
  t.is(home, env.HOME);
  t.is(entries, '0', 'HOME is empty');
  t.deepEqual(found, [], 'no C compiler reachable');
  t.deepEqual((await readdir(env.PATH!)).filter((n) => COMPILER.test(n)), []);
  t.false(join(work, 'u').startsWith(process.cwd()));

  const r = await asUser(['npm', 'install', '-g', '--prefix', join(work, 'u', 'prefix'), '--offline', '--no-audit', '--no-fund',
    join(work, 'u', 'xbuild.tgz'), join(work, 'u', 'xbuild-linux-x64.tgz')]);
  t.is(r.code, 0, r.stderr);
  const st = await stat(join(work, 'u', 'prefix', 'lib', 'node_modules', '@xbuild', 'linux-x64', 'manifest.json'));
  t.is(st.uid, user.uid, 'installed by the user');
  const v = await xbuild(['--version']);
  t.is(v.code, 0, v.stderr);
  t.is(v.stdout.trim(), JSON.parse(await readFile('package.json', 'utf8')).version);
});

test.serial('doctor: emulators and shim come from the platform package installed beside the CLI; all checks pass', async (t) => {
  const r = await xbuild(['doctor', '--json']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const d = JSON.parse(r.stdout);
  const pkgDir = join(work, 'u', 'prefix', 'lib', 'node_modules', '@xbuild', 'linux-x64');
  t.like(d.platformPackage, { installed: true, dir: pkgDir });
  for (const arch of ['arm', 'aarch64', 'riscv64', 'ppc64le', 's390x']) {
    t.like(d.emulators[arch], { ok: true, origin: 'platform-package', path: join(pkgDir, 'bin', `qemu-${arch}-static`) });
    t.true(d.emulators[arch].checks.every((c: { ok: boolean }) => c.ok));
  }
  t.like(d.shim, { ok: true, origin: 'platform-package', path: join(pkgDir, 'bin', 'xbuild-shim') });
  const text = await xbuild(['doctor']);
  t.regex(text.stdout, /qemu-arm-static: ok .*\(from platform-package, version \d+\.\d+\.\d+\)/);
});

for (const [name, platform] of [['busybox-armv7', 'linux/arm/v7'], ['busybox-arm64', 'linux/arm64/v8']] as const) {
  test.serial(`${name}: wrap + verify, OCI layout in and out (${platform})`, async (t) => {
    const out = join(work, 'u', 'out', name);
    const w = await xbuild(['wrap', `oci:${join(work, 'u', 'in', name)}:${name}`, '--output', `type=oci,dest=${out}`, '-t', 'xbuild-test:wrapped', '--quiet']);
    t.is(w.code, 0, w.stderr);
    t.regex(w.stdout, /^oci:.*:wrapped@sha256:[0-9a-f]{64}\n$/);
    const v = await xbuild(['verify', `oci:${out}:wrapped`, '--json']);
    t.is(v.code, 0, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout);
    t.true(report.passed);
    t.deepEqual(report.platforms.map((p: { platform: string }) => p.platform), [platform]);
  });
}

test.serial('registry: wrap armhf and arm64 from a real registry (docker-registry on loopback) and verify there', async (t) => {
  reg = await startRegistry({ auth: 'none' });
  for (const n of ['busybox-armv7', 'busybox-arm64']) {
    await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${join(images, n)}:${n}`, `docker://${reg.host}/base/busybox:${n}`]);
    const w = await xbuild(['wrap', `${reg.host}/base/busybox:${n}`, '-t', `${reg.host}/me/busybox-xbuild:${n}`, '--quiet']);
    t.is(w.code, 0, w.stderr);
    const v = await xbuild(['verify', `${reg.host}/me/busybox-xbuild:${n}`]);
    t.is(v.code, 0, v.stdout + v.stderr);
  }
});

test.serial('nothing was compiled or cached: HOME holds no shim and no emulator build', async (t) => {
  const home = env.HOME!;
  // wrap's layer cache (<cache root>/layers: gzipped layers made of the shipped
  // files) is the one cache a user's HOME may hold; nothing built, nothing else cached
  const layers = join(home, '.cache', 'xbuild', 'layers');
  const list = await asUser(['find', home, '-path', layers, '-prune', '-o', '(',
    '(', '-path', `${join(home, '.cache')}/*`, '-type', 'f', ')', '-o', '-name', 'xbuild-shim', '-o', '-name', 'qemu-*', '-o', '-name', '*.o', ')', '-print']);
  t.is(list.code, 0, list.stderr);
  t.is(list.stdout.trim(), '', 'no shim, emulator, object file or other cached file was written in the empty HOME');
  t.true((await readdir(home)).length > 0, 'npm did use this HOME (the check looked at the right place)');
});

test.serial('a platform package of another xbuild version is refused in one line naming what to install', async (t) => {
  const m = join(work, 'u', 'prefix', 'lib', 'node_modules', '@xbuild', 'linux-x64', 'manifest.json');
  const manifest = JSON.parse(await readFile(m, 'utf8'));
  await writeFile(m, JSON.stringify({ ...manifest, xbuildVersion: '0.0.1-elsewhere' }));
  const w = await xbuild(['wrap', `oci:${join(work, 'u', 'in', 'busybox-armv7')}:busybox-armv7`, '--output', `type=oci,dest=${join(work, 'u', 'out', 'refused')}`, '--quiet']);
  t.is(w.code, 2);
  const lines = w.stderr.trim().split('\n');
  t.is(lines.length, 2, w.stderr);
  t.regex(lines[0]!, /^xbuild: @xbuild\/linux-x64 at \S+ is for xbuild 0\.0\.1-elsewhere, this is xbuild \S+$/);
  t.regex(lines[1]!, /^hint: install @xbuild\/linux-x64@\S+ beside xbuild/);
  await t.throwsAsync(stat(join(work, 'u', 'out', 'refused', 'index.json')));
});
