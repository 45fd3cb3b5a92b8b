// The builders themselves, on this machine, with no xbuild involved:
// dockerd (legacy builder and BuildKit) and buildah (chroot isolation) pull
// from a loopback registry, run a RUN line, and push. Then the condition
// xbuild exists for: the same builders cannot RUN anything in an ARM image
// (no binfmt_misc handler), failing with "exec format error".
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoArmBinfmt } from './helpers/binfmt.ts';
import { startDockerd, type Dockerd } from './helpers/dockerd.ts';
import { startBuildah, type Buildah } from './helpers/buildah.ts';
import { startE2eRegistry, type E2eRegistry } from './helpers/e2e-registry.ts';
import { busyboxImages, pushLayout } from './helpers/e2e-fixtures.ts';
import { step } from './helpers/e2e-exec.ts';

let registry: E2eRegistry | undefined;
let dockerd: Dockerd | undefined;
let buildah: Buildah | undefined;
let ctxDir = '';
let armCtx = '';

test.before(async (t) => {
  t.timeout(20 * 60_000, 'fixtures, registry and builders');
  await step('asserting no ARM binfmt_misc handler on the host', assertNoArmBinfmt);
  registry = await step('starting the test registry', startE2eRegistry);
  const images = await step('building busybox fixtures', busyboxImages);
  await step('pushing busybox-amd64', () => pushLayout(images, 'busybox-amd64', `${registry!.host}/busybox:amd64`));
  await step('pushing busybox-armv7', () => pushLayout(images, 'busybox-armv7', `${registry!.host}/busybox:armv7`));
  dockerd = await step('starting dockerd', () => startDockerd());
  t.log(`dockerd answered after ${dockerd.startMs} ms`);
  buildah = await step('preparing buildah', startBuildah);
  ctxDir = await mkdtemp(join(tmpdir(), 'xb-ctx-'));
  await writeFile(join(ctxDir, 'Dockerfile'), [
    `FROM ${registry.host}/busybox:amd64`,
    'RUN ["/bin/busybox", "echo", "exec-form-ran"]',
    'RUN echo "shell-form-ran on $(uname -m)" && echo built > /built-marker',
    '',
  ].join('\n'));
  armCtx = await mkdtemp(join(tmpdir(), 'xb-ctx-'));
  await writeFile(join(armCtx, 'Dockerfile'), `FROM ${registry.host}/busybox:armv7\nRUN ["/bin/busybox", "true"]\n`);
});

test.after.always(async () => {
  await buildah?.cleanup();
  await dockerd?.stop();
  await registry?.stop();
  if (ctxDir) await rm(ctxDir, { recursive: true, force: true });
  if (armCtx) await rm(armCtx, { recursive: true, force: true });
});

test.serial('docker legacy builder: pulls from the loopback registry, runs RUN lines, pushes', async (t) => {
  const ref = `${registry!.host}/harness:legacy`;
  const b = await dockerd!.docker(['build', '--network=host', '-t', ref, ctxDir], { env: { DOCKER_BUILDKIT: '0' } });
  t.is(b.code, 0, b.stderr);
  t.regex(b.stdout, /exec-form-ran/);
  t.regex(b.stdout, /shell-form-ran on x86_64/);
  const p = await dockerd!.docker(['push', ref]);
  t.is(p.code, 0, p.stderr);
  t.log(`legacy build ${b.ms} ms, push ${p.ms} ms`);
});

test.serial('BuildKit: pulls from the loopback registry, runs RUN lines, pushes', async (t) => {
  const ref = `${registry!.host}/harness:buildkit`;
  const b = await dockerd!.docker(['build', '--progress=plain', '--network=host', '-t', ref, ctxDir], { env: { DOCKER_BUILDKIT: '1' } });
  t.is(b.code, 0, b.stderr);
  // BuildKit writes its progress (and RUN output) to stderr
  t.regex(b.stderr, /exec-form-ran/);
  t.regex(b.stderr, /shell-form-ran on x86_64/);
  const p = await dockerd!.docker(['push', ref]);
  t.is(p.code, 0, p.stderr);
  t.log(`BuildKit build ${b.ms} ms, push ${p.ms} ms`);
});

test.serial('buildah bud --isolation chroot: pulls, runs RUN lines, pushes', async (t) => {
  const ref = `${registry!.host}/harness:buildah`;
  const b = await buildah!.bud(ctxDir, ['-t', ref]);
  t.is(b.code, 0, b.stderr);
  t.regex(b.stdout, /exec-form-ran/);
  t.regex(b.stdout, /shell-form-ran on x86_64/);
  const p = await buildah!.push(ref);
  t.is(p.code, 0, p.stderr);
  const m = await fetch(`http://${registry!.host}/v2/harness/manifests/buildah`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  t.is(m.status, 200);
  t.log(`buildah build ${b.ms} ms, push ${p.ms} ms`);
});

// Without binfmt_misc (asserted in before) no builder can start an ARM binary.
test.serial('without xbuild, an ARM RUN line fails with exec format error in all three builders', async (t) => {
  const legacy = await dockerd!.docker(['build', '--network=host', '--platform', 'linux/arm/v7', armCtx], { env: { DOCKER_BUILDKIT: '0' } });
  t.not(legacy.code, 0);
  t.regex(legacy.stdout + legacy.stderr, /exec format error/i);
  const bk = await dockerd!.docker(['build', '--progress=plain', '--network=host', '--platform', 'linux/arm/v7', armCtx], { env: { DOCKER_BUILDKIT: '1' } });
  t.not(bk.code, 0);
  t.regex(bk.stdout + bk.stderr, /exec format error/i);
  const bh = await buildah!.bud(armCtx, ['--platform', 'linux/arm/v7']);
  t.not(bh.code, 0);
  t.regex(bh.stdout + bh.stderr, /exec format error/i);
});
