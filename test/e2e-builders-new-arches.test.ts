// Issue 12 end to end, with buildah (bud --isolation chroot) as the real builder,
// Debian's docker-registry on loopback, and images made of Debian's packages
// (scripts/fixtures/new-arch-images.sh), on a host with no binfmt_misc handler:
//   - a multi-platform index (riscv64, ppc64le, s390x, amd64) is wrapped: the three
//     emulated entries get their emulator, amd64 is kept untouched;
//   - buildah builds base-images/debian-<suite>-<arch>/Dockerfile for each platform,
//     shell-form RUN lines print uname -m and dpkg --print-architecture; xbuild
//     verify passes the result, and fails a copy whose config lies about the arch;
//   - an arm64 image holding Debian's armhf busybox, wrapped with --extra-emulators arm,
//     runs it in a shell-form RUN; wrapped without it, the build fails and says
//     which emulator is missing.
import test from 'ava';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { startBuildah, type Buildah } from './helpers/buildah.ts';
import { startE2eRegistry, type E2eRegistry } from './helpers/e2e-registry.ts';
import { pushLayout } from './helpers/e2e-fixtures.ts';
import { markers } from './helpers/e2e-builders.ts';
import { run, runOk, step, type RunResult } from './helpers/e2e-exec.ts';

const ROOT = new URL('..', import.meta.url).pathname;
let registry: E2eRegistry | undefined;
let buildah: Buildah | undefined;
let context = '';
let images = '';

const xbuild = (args: string[]): Promise<RunResult> => run(process.execPath, [join(ROOT, 'bin/xbuild.mjs'), ...args], { cwd: ROOT, timeoutMs: 15 * 60_000 });

test.before(async (t) => {
  t.timeout(30 * 60_000, 'fixtures, registry, buildah');
  await step('asserting no ARM binfmt_misc handler on the host', assertNoArmBinfmt);
  await runOk('bundling the CLI', process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT });
  const r = await runOk('building the fixture images (scripts/fixtures/new-arch-images.sh)', 'bash', [join(ROOT, 'scripts/fixtures/new-arch-images.sh')], { timeoutMs: 20 * 60_000 });
  images = r.stdout.trim().split('\n').pop()!;
  registry = await step('starting the test registry', startE2eRegistry);
  buildah = await step('preparing buildah', startBuildah);
  context = await mkdtemp(join(tmpdir(), 'xb-context-'));
  await cp(join(ROOT, 'base-images'), context, { recursive: true });
});

test.after.always(async () => {
  await buildah?.cleanup();
  await registry?.stop();
  if (context) await rm(context, { recursive: true, force: true });
});

async function pushAndWrap(name: string, extra: string[] = [], suffix = 'xbuild'): Promise<string> {
  const base = `${registry!.host}/fixtures/${name}:base`;
  const wrapped = `${registry!.host}/fixtures/${name}:${suffix}`;
  await pushLayout(images, name, base);
  const r = await xbuild(['wrap', base, '-t', wrapped, '--quiet', ...extra]);
  if (r.code !== 0) throw new Error(`xbuild wrap ${base} ${extra.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return wrapped;
}

test.serial('wrap of a multi-platform index: riscv64, ppc64le and s390x wrapped with their emulators, amd64 kept', async (t) => {
  const base = `${registry!.host}/fixtures/multi:base`;
  await runOk('pushing the index', '/usr/bin/skopeo', ['copy', '--all', '--quiet', '--dest-tls-verify=false', `oci:${join(images, 'multi')}:multi`, `docker://${base}`]);
  const out = `${registry!.host}/fixtures/multi:xbuild`;
  const r = await xbuild(['wrap', base, '-t', out, '--json']);
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { platforms: Array<{ platform: string; action: string; digest: string; baseDigest: string }> };
  const by = Object.fromEntries(report.platforms.map((p) => [p.platform, p]));
  t.deepEqual(Object.keys(by).sort(), ['linux/amd64', 'linux/ppc64le', 'linux/riscv64', 'linux/s390x']);
  for (const p of ['linux/riscv64', 'linux/ppc64le', 'linux/s390x']) t.is(by[p]!.action, 'wrapped', p);
  t.is(by['linux/amd64']!.action, 'kept');
  t.is(by['linux/amd64']!.digest, by['linux/amd64']!.baseDigest);
  // skopeo (not our reader) sees each entry's emulator in the added layer's history
  for (const plat of ['riscv64', 'ppc64le', 's390x']) {
    const emu = `qemu-${plat}-static`;
    const cfg = await runOk(`skopeo inspect --config ${plat}`, '/usr/bin/skopeo', ['--override-arch', plat, 'inspect', '--config', '--tls-verify=false', `docker://${out}`]);
    const c = JSON.parse(cfg.stdout) as { architecture: string; history: Array<{ created_by?: string }> };
    t.is(c.architecture, plat);
    t.regex(c.history.at(-1)?.created_by ?? '', new RegExp(`^xbuild wrap \\(${emu}, cross-build-start, cross-build-end\\)$`));
  }
  // a single amd64 image is refused: it runs natively
  const amd = await xbuild(['wrap', `${base}`, '--platform', 'linux/amd64', '-t', `${registry!.host}/fixtures/amd:x`]);
  t.is(amd.code, 2);
  t.regex(amd.stderr, /nothing to wrap|runs natively/);
});

const PLATFORMS = [
  { name: 'debian-trixie-riscv64', platform: 'linux/riscv64', uname: 'riscv64', dpkg: 'riscv64' },
  { name: 'debian-bookworm-ppc64le', platform: 'linux/ppc64le', uname: 'ppc64le', dpkg: 'ppc64el' },
  { name: 'debian-bookworm-s390x', platform: 'linux/s390x', uname: 's390x', dpkg: 's390x' },
];

for (const p of PLATFORMS) {
  test.serial(`buildah builds base-images/${p.name}/Dockerfile (shell-form RUN: uname -m, dpkg --print-architecture); verify passes it and fails a lying config`, async (t) => {
    t.timeout(30 * 60_000);
    const base = await pushAndWrap(p.name);
    const tag = `${registry!.host}/out/${p.name}:buildah`;
    const b = await buildah!.bud(context, ['-f', join(context, p.name, 'Dockerfile'), '--platform', p.platform, '--build-arg', `BASE=${base}`, '-t', tag], { timeoutMs: 25 * 60_000 });
    const output = `${b.stdout}\n${b.stderr}`;
    t.is(b.code, 0, output.split('\n').slice(-30).join('\n'));
    const m = markers(output);
    t.is(m['uname-m'], p.uname, output);
    t.is(m['dpkg-arch'], p.dpkg);
    t.is(m['pipeline'], 'a');
    t.is(m['bash'], `5 ${p.uname}`);
    t.is(m['env-script'], 'Ok via env-script');
    const push = await buildah!.push(tag);
    t.is(push.code, 0, push.stderr);
    const v = await xbuild(['verify', tag]);
    t.is(v.code, 0, `xbuild verify ${tag}:\n${v.stdout}${v.stderr}`);
    // the same image under a config that says amd64: verify fails and says why
    const lie = `${registry!.host}/out/${p.name}:lie`;
    const mod = await buildah!.buildah(['from', '--pull-never', '--name', `lie-${p.uname}`, tag]);
    t.is(mod.code, 0, mod.stderr);
    t.is((await buildah!.buildah(['config', '--arch', 'amd64', `lie-${p.uname}`])).code, 0);
    t.is((await buildah!.buildah(['commit', `lie-${p.uname}`, lie])).code, 0);
    t.is((await buildah!.push(lie)).code, 0);
    const vl = await xbuild(['verify', lie]);
    t.is(vl.code, 1, `${vl.stdout}${vl.stderr}`);
    t.regex(vl.stdout, /platform-machine-mismatch/);
  });
}

test.serial('arm64 image with an armhf program: wrap --extra-emulators arm runs it in a shell-form RUN; without it the build fails and names the missing emulator', async (t) => {
  t.timeout(30 * 60_000);
  const name = 'debian-trixie-arm64-armhf';
  const dockerfile = join(context, name, 'Dockerfile');
  const withArm = await pushAndWrap(name, ['--extra-emulators', 'arm'], 'xbuild-arm');
  const tag = `${registry!.host}/out/${name}:buildah`;
  const b = await buildah!.bud(context, ['-f', dockerfile, '--platform', 'linux/arm64/v8', '--build-arg', `BASE=${withArm}`, '-t', tag], { timeoutMs: 25 * 60_000 });
  const output = `${b.stdout}\n${b.stderr}`;
  t.is(b.code, 0, output.split('\n').slice(-30).join('\n'));
  const m = markers(output);
  t.is(m['uname-m'], 'aarch64', output);
  t.is(m['dpkg-arch'], 'arm64');
  t.is(m['armhf-uname-m'], 'armv7l');
  t.is(m['armhf-sh'], 'armv7l aarch64', 'the armhf shell runs an armhf child as armv7l and the image\'s arm64 uname as aarch64');
  t.is((await buildah!.push(tag)).code, 0);
  const v = await xbuild(['verify', tag, '--json']);
  t.is(v.code, 0, v.stdout);
  t.deepEqual((JSON.parse(v.stdout) as { platforms: Array<{ checked: { extraEmulators: string[] } }> }).platforms[0]!.checked.extraEmulators, ['usr/bin/qemu-arm-static']);

  const without = await pushAndWrap(name, [], 'xbuild');
  const f = await buildah!.bud(context, ['-f', dockerfile, '--platform', 'linux/arm64/v8', '--build-arg', `BASE=${without}`, '-t', `${registry!.host}/out/${name}:fails`], { timeoutMs: 25 * 60_000 });
  const fo = `${f.stdout}\n${f.stderr}`;
  t.not(f.code, 0, fo);
  t.regex(fo, /qemu: \/usr\/bin\/busybox-armhf is a program for arm, and there is no emulator \/usr\/bin\/qemu-arm-static beside this one to run it \(xbuild wrap --extra-emulators arm adds it\)/);
  t.notRegex(fo, /XB armhf-uname-m=armv7l/);
});
