// busybox-only images laid out like Alpine, for linux/arm/v5, v7 and arm64:
// wrapped by xbuild, built by buildah, the docker legacy builder and
// BuildKit on a host with no ARM binfmt_misc handler, pushed, verified.
import test from 'ava';
import { busyboxImages } from './helpers/e2e-fixtures.ts';
import { BUILDERS, buildAndPush, markers, pushAndWrap, startE2e, verify, type E2e } from './helpers/e2e-builders.ts';
import { step } from './helpers/e2e-exec.ts';

const PLATFORMS = [
  { name: 'busybox-armv5', platform: 'linux/arm/v5', arch: 'armel', machine: /^armv[5-8]l$/ },
  { name: 'busybox-armv7', platform: 'linux/arm/v7', arch: 'armhf', machine: /^armv[78]l$/ },
  { name: 'busybox-arm64', platform: 'linux/arm64/v8', arch: 'arm64', machine: /^aarch64$/ },
];

let e: E2e | undefined;
const wrapped = new Map<string, string>();

test.before(async (t) => {
  t.timeout(45 * 60_000, 'fixture images, registry, wrap and builders'); // see ava's global inactivity timeout
  e = await startE2e();
  const dir = await step('building busybox fixtures', busyboxImages);
  for (const p of PLATFORMS) wrapped.set(p.name, await step(`wrapping ${p.name}`, () => pushAndWrap(e!, dir, p.name)));
});

test.after.always(async () => { await e?.stop(); });

for (const builder of BUILDERS) {
  for (const p of PLATFORMS) {
    test.serial(`${builder} builds base-images/busybox/Dockerfile on ${p.platform}; xbuild verify passes`, async (t) => {
    t.timeout(40 * 60_000, 'one build under emulation');
      const tag = `${e!.registry.host}/out/${p.name}:${builder}`;
      const r = await buildAndPush(e!, builder, { dockerfile: 'busybox/Dockerfile', base: wrapped.get(p.name)!, platform: p.platform, tag });
      t.log(`${builder} ${p.platform}: build ${r.buildMs} ms, push ${r.pushMs} ms`);
      const m = markers(r.output);
      t.regex(m['uname-m'] ?? '', p.machine, r.output);
      t.is(m['arch-file'], p.arch);
      t.true(Number(m['applet-links']) > 50, `applet links in /bin: ${m['applet-links']}`);
      t.is(m['pipeline'], 'CBA');
      t.is(m['env-script'], 'Ok via env-script');
      t.is(m['nested'], '42');
      const v = await verify(e!, tag);
      t.is(v.code, 0, `xbuild verify ${tag}:\n${v.stdout}${v.stderr}`);
    });
  }
}
