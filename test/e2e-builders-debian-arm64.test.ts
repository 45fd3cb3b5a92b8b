// Debian bookworm arm64 (linux/arm64/v8): Debian's nodejs installed with apt
// and run inside RUN lines (node -e, #!/usr/bin/env node, #!/usr/bin/env sh)
// by buildah, the docker legacy builder and BuildKit, with no ARM
// binfmt_misc handler on the host; results pushed and verified.
import test from 'ava';
import { debianImage } from './helpers/e2e-fixtures.ts';
import { BUILDERS, buildAndPush, markers, pushAndWrap, startE2e, verify, type E2e } from './helpers/e2e-builders.ts';
import { step } from './helpers/e2e-exec.ts';

const NAME = 'debian-bookworm-arm64';
let e: E2e | undefined;
let base = '';

test.before(async (t) => {
  t.timeout(45 * 60_000, 'fixture images, registry, wrap and builders'); // see ava's global inactivity timeout
  e = await startE2e();
  const dir = await step(`building the ${NAME} fixture`, () => debianImage('arm64'));
  base = await step(`wrapping ${NAME}`, () => pushAndWrap(e!, dir, NAME));
});

test.after.always(async () => { await e?.stop(); });

for (const builder of BUILDERS) {
  test.serial(`${builder} builds base-images/${NAME}/Dockerfile (apt, nodejs, #!/usr/bin/env); xbuild verify passes`, async (t) => {
    t.timeout(40 * 60_000, 'one build under emulation');
    const tag = `${e!.registry.host}/out/${NAME}:${builder}`;
    const r = await buildAndPush(e!, builder, { dockerfile: `${NAME}/Dockerfile`, base, platform: 'linux/arm64/v8', tag });
    t.log(`${builder}: build ${r.buildMs} ms, push ${r.pushMs} ms`);
    const m = markers(r.output);
    t.is(m['uname-m'], 'aarch64', r.output);
    t.is(m['dpkg-arch'], 'arm64');
    t.is(m['node'], 'arm64 linux 2,4,6');
    t.is(m['env-script'], 'Ok via env-script');
    t.is(m['env-node'], 'arm64');
    const v = await verify(e!, tag);
    t.is(v.code, 0, `xbuild verify ${tag}:\n${v.stdout}${v.stderr}`);
  });
}
