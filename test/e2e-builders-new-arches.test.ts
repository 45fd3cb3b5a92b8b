// Issue 12 end to end, with buildah (bud --isolation chroot) and Debian's dockerd
// (legacy builder and BuildKit) as the real builders, Debian's docker-registry on
// loopback, and images made of Debian's packages (scripts/fixtures/new-arch-images.sh),
// on a host with no binfmt_misc handler:
//   - a multi-platform index (riscv64, ppc64le, s390x, amd64) is wrapped: the three
//     emulated entries get their emulator, amd64 is kept untouched;
//   - buildah builds base-images/debian-<suite>-<arch>/Dockerfile for each platform,
//     shell-form RUN lines print uname -m and dpkg --print-architecture; xbuild
//     verify passes the result, and fails a copy whose config lies about the arch;
//   - the same Dockerfiles built by dockerd's legacy builder and by BuildKit (about
//     10-20 s each here), with the same markers; verify passes the results;
//   - an arm64 image holding Debian's armhf busybox, wrapped with --extra-emulators arm,
//     runs it in a shell-form RUN (buildah, legacy builder, BuildKit); wrapped without
//     it, the buildah build fails and says which emulator is missing.
import test from 'ava';
import { join } from 'node:path';
import type { Buildah } from './helpers/buildah.ts';
import type { E2eRegistry } from './helpers/e2e-registry.ts';
import { pushLayout } from './helpers/e2e-fixtures.ts';
import { buildAndPush, markers, ROOT, startE2e, verify, type BuilderName, type E2e } from './helpers/e2e-builders.ts';
import { runOk, type RunResult } from './helpers/e2e-exec.ts';

let e: E2e | undefined;
let registry: E2eRegistry | undefined;
let buildah: Buildah | undefined;
let context = '';
let images = '';

const xbuild = (args: string[]): Promise<RunResult> => e!.xbuild(args);

test.before(async (t) => {
  t.timeout(30 * 60_000, 'fixtures, registry, dockerd, buildah');
  const r = await runOk('building the fixture images (scripts/fixtures/new-arch-images.sh)', 'bash', [join(ROOT, 'scripts/fixtures/new-arch-images.sh')], { timeoutMs: 20 * 60_000 });
  images = r.stdout.trim().split('\n').pop()!;
  e = await startE2e();
  ({ registry, buildah, context } = e);
});

test.after.always(async () => {
  await e?.stop();
});

/** Pushes fixture image NAME and wraps it (once per name, extra options and suffix). */
const wrapped = new Map<string, Promise<string>>();
function pushAndWrap(name: string, extra: string[] = [], suffix = 'xbuild'): Promise<string> {
  const k = `${name}:${suffix}`;
  if (!wrapped.has(k)) wrapped.set(k, pushAndWrapNow(name, extra, suffix));
  return wrapped.get(k)!;
}
async function pushAndWrapNow(name: string, extra: string[], suffix: string): Promise<string> {
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
const DOCKER_BUILDERS: BuilderName[] = ['docker-legacy', 'buildkit'];

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

for (const p of PLATFORMS) for (const builder of DOCKER_BUILDERS) {
  test.serial(`${builder} builds base-images/${p.name}/Dockerfile (shell-form RUN: uname -m, dpkg --print-architecture); verify passes it`, async (t) => {
    t.timeout(30 * 60_000);
    const base = await pushAndWrap(p.name);
    const tag = `${registry!.host}/out/${p.name}:${builder}`;
    const r = await buildAndPush(e!, builder, { dockerfile: `${p.name}/Dockerfile`, base, platform: p.platform, tag });
    t.log(`${builder}: build ${r.buildMs} ms, push ${r.pushMs} ms`);
    const m = markers(r.output);
    t.is(m['uname-m'], p.uname, r.output);
    t.is(m['dpkg-arch'], p.dpkg, r.output);
    t.is(m['pipeline'], 'a');
    t.is(m['bash'], `5 ${p.uname}`);
    t.is(m['env-script'], 'Ok via env-script');
    const v = await verify(e!, tag);
    t.is(v.code, 0, `xbuild verify ${tag}:\n${v.stdout}${v.stderr}`);
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

for (const builder of DOCKER_BUILDERS) {
  test.serial(`${builder} builds the arm64 + armhf example (wrap --extra-emulators arm); verify passes it with the extra emulator`, async (t) => {
    t.timeout(30 * 60_000);
    const name = 'debian-trixie-arm64-armhf';
    const base = await pushAndWrap(name, ['--extra-emulators', 'arm'], 'xbuild-arm');
    const tag = `${registry!.host}/out/${name}:${builder}`;
    const r = await buildAndPush(e!, builder, { dockerfile: `${name}/Dockerfile`, base, platform: 'linux/arm64/v8', tag });
    t.log(`${builder}: build ${r.buildMs} ms, push ${r.pushMs} ms`);
    const m = markers(r.output);
    t.is(m['uname-m'], 'aarch64', r.output);
    t.is(m['dpkg-arch'], 'arm64', r.output);
    t.is(m['armhf-uname-m'], 'armv7l', r.output);
    t.is(m['armhf-sh'], 'armv7l aarch64', r.output);
    const v = await xbuild(['verify', tag, '--json']);
    t.is(v.code, 0, `${v.stdout}${v.stderr}`);
    t.deepEqual((JSON.parse(v.stdout) as { platforms: Array<{ checked: { extraEmulators: string[] } }> }).platforms[0]!.checked.extraEmulators, ['usr/bin/qemu-arm-static']);
  });
}
