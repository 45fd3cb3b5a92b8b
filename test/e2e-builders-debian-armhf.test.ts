// Debian bookworm armhf (linux/arm/v7): apt-get install from Debian's
// archive, the image's own gcc, ./configure && make, #!/usr/bin/env — inside
// RUN lines of buildah, the docker legacy builder and BuildKit, with no ARM
// binfmt_misc handler on the host; results pushed and verified.
import test from 'ava';
import { debianImage } from './helpers/e2e-fixtures.ts';
import { BUILDERS, buildAndPush, markers, pushAndWrap, startE2e, verify, type E2e } from './helpers/e2e-builders.ts';
import { step } from './helpers/e2e-exec.ts';

const NAME = 'debian-bookworm-armhf';
let e: E2e | undefined;
let base = '';

test.before(async (t) => {
  t.timeout(45 * 60_000, 'fixture images, registry, wrap and builders'); // see ava's global inactivity timeout
  e = await startE2e();
  const dir = await step(`building the ${NAME} fixture`, () => debianImage('armhf'));
  base = await step(`wrapping ${NAME}`, () => pushAndWrap(e!, dir, NAME));
});

test.after.always(async () => { await e?.stop(); });

for (const builder of BUILDERS) {
  test.serial(`${builder} builds base-images/${NAME}/Dockerfile (apt, gcc, configure && make); xbuild verify passes`, async (t) => {
    t.timeout(40 * 60_000, 'one build under emulation');
    const tag = `${e!.registry.host}/out/${NAME}:${builder}`;
    const r = await buildAndPush(e!, builder, { dockerfile: `${NAME}/Dockerfile`, base, platform: 'linux/arm/v7', tag });
    t.log(`${builder}: build ${r.buildMs} ms, push ${r.pushMs} ms`);
    const m = markers(r.output);
    t.regex(m['uname-m'] ?? '', /^armv[78]l$/, r.output);
    t.is(m['dpkg-arch'], 'armhf');
    t.regex(m['hello-c'] ?? '', /^armv[78]l 32-bit$/);
    t.is(m['configure-demo'], 'uname:yes sizeof(long)=4');
    t.is(m['env-script'], 'Ok via env-script');
    const v = await verify(e!, tag);
    t.is(v.code, 0, `xbuild verify ${tag}:\n${v.stdout}${v.stderr}`);
  });
}
