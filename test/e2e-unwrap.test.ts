// `xbuild unwrap` with real builders and the real registry, on the busybox
// linux/arm/v7 fixture (the cheapest base): buildah (one layer, and
// --layers), the docker legacy builder and BuildKit build on a wrapped base
// (classic lines), on a `wrap --start` base with a Dockerfile that has no
// xbuild line, and with cross-build-start never ended. Each result is
// unwrapped; its merged file system must equal, file by file (type, mode,
// owner, content digest, link target), the built image's with the xbuild
// paths removed and swapped shells put back; no layer may hold an xbuild
// path or the emulator's or shim's bytes; verify --final passes it and fails
// the input; unwrapping twice gives the same digest.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openReference } from '../src/open/open.ts';
import { parseImageName } from '../src/oci/reference.ts';
import type { Image, Layer } from '../src/oci/model.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { isXbuildOwned } from '../src/contract/owned.ts';
import { ORIGINAL_SUFFIX } from '../src/contract/in-image.ts';
import { walkLayer } from '../src/layer/walk.ts';
import { busyboxImages } from './helpers/e2e-fixtures.ts';
import { markers, startE2e, type BuilderName, type E2e } from './helpers/e2e-builders.ts';
import { step } from './helpers/e2e-exec.ts';
import { findEmulator } from './helpers/emulators.ts';
import { mergedFs, type FileFacts } from './helpers/merged-fs.ts';

type Case = 'classic' | 'start-plain' | 'never-ends';
const MATRIX: { builder: BuilderName; layers?: boolean; kase: Case }[] = [
  { builder: 'buildah', kase: 'start-plain' },
  { builder: 'buildah', layers: true, kase: 'never-ends' },
  { builder: 'docker-legacy', kase: 'classic' },
  { builder: 'buildkit', kase: 'start-plain' },
];
const NAME = 'busybox-armv7';
const PLATFORM = 'linux/arm/v7';

let e: E2e | undefined;
let client: RegistryClient | undefined;
const bases: Record<'plain' | 'wrapped' | 'started', string> = { plain: '', wrapped: '', started: '' };

test.before(async (t) => {
  t.timeout(45 * 60_000, 'fixture images, registry, wrap and builders');
  e = await startE2e();
  client = new RegistryClient({ env: process.env });
  const dir = await step('building busybox fixtures', busyboxImages);
  const { pushLayout } = await import('./helpers/e2e-fixtures.ts');
  bases.plain = `${e.registry.host}/fixtures/${NAME}:base`;
  await step(`pushing ${NAME}`, () => pushLayout(dir, NAME, bases.plain));
  const qemuDir = process.env.XBUILD_QEMU_DIR ? ['--qemu-dir', process.env.XBUILD_QEMU_DIR] : [];
  for (const [k, extra] of [['wrapped', []], ['started', ['--start']]] as const) {
    bases[k] = `${e.registry.host}/fixtures/${NAME}:${k}`;
    const r = await e.xbuild(['wrap', bases.plain, '-t', bases[k], '--quiet', ...qemuDir, ...extra]);
    if (r.code !== 0) throw new Error(`xbuild wrap ${extra.join(' ')} exited ${r.code}: ${r.stderr}`);
  }
  // the never-ending build: the classic Dockerfile without its cross-build-end line
  const classic = await readFile(join(e.context, 'busybox/Dockerfile'), 'utf8');
  await writeFile(join(e.context, 'busybox/Dockerfile.no-end'), classic.replace('RUN ["cross-build-end"]\n', ''));
});

test.after.always(async () => { client?.close(); await e?.stop(); });

async function open(ref: string): Promise<Image> {
  const img = await openReference(parseImageName(ref), { env: process.env, registryClient: client! });
  if (img.kind !== 'image') throw new Error(`${ref} is an index`);
  return img;
}

async function build(builder: BuilderName, layers: boolean, dockerfile: string, base: string, tag: string): Promise<string> {
  const common = ['-f', join(e!.context, dockerfile), '--platform', PLATFORM, '--build-arg', `BASE=${base}`, '-t', tag];
  const limit = { timeoutMs: 20 * 60_000 };
  const b = builder === 'buildah'
    ? await e!.buildah.bud(e!.context, [...(layers ? ['--layers'] : []), ...common], limit)
    : await e!.dockerd.docker(['build', '--network=host', ...(builder === 'buildkit' ? ['--progress=plain'] : []), ...common, e!.context],
      { ...limit, env: { DOCKER_BUILDKIT: builder === 'buildkit' ? '1' : '0' } });
  const out = `${b.stdout}\n${b.stderr}`;
  if (b.code !== 0) throw new Error(`${builder} ${dockerfile} exited ${b.code}:\n${out.split('\n').slice(-30).join('\n')}`);
  const p = builder === 'buildah' ? await e!.buildah.push(tag) : await e!.dockerd.docker(['push', tag]);
  if (p.code !== 0) throw new Error(`pushing ${tag} exited ${p.code}: ${p.stderr}`);
  return out;
}

/**
 * The built file system as a native build gives it: swapped shells back from
 * their originals, xbuild paths gone, and directories that only the xbuild
 * layer made (not in the plain base: /usr/lib in busybox) gone when empty.
 */
function expectedFrom(built: Map<string, FileFacts>, xbuildOnlyDirs: string[]): Map<string, FileFacts> {
  const out = new Map(built);
  for (const [p, f] of built) if (p.endsWith(ORIGINAL_SUFFIX) && !isXbuildOwned(p.slice(0, -ORIGINAL_SUFFIX.length))) out.set(p.slice(0, -ORIGINAL_SUFFIX.length), f);
  for (const p of [...out.keys()]) if (isXbuildOwned(p)) out.delete(p);
  for (const d of xbuildOnlyDirs.sort().reverse()) if (![...out.keys()].some((p) => p.startsWith(`${d}/`))) out.delete(d);
  return out;
}

async function forbiddenInLayers(layers: Layer[], digests: Set<string>): Promise<string[]> {
  const bad: string[] = [];
  for (const [i, l] of layers.entries()) {
    await walkLayer(await l.open(), (en) => {
      const base = en.path.split('/').pop() ?? '';
      const target = base.startsWith('.wh.') ? en.path.replace(/\.wh\.(?!\.wh\.)/, '') : en.path;
      if (isXbuildOwned(target)) bad.push(`layer ${i}: ${en.path}`);
      if (en.kind !== 'file') return undefined;
      const h = createHash('sha256');
      return { data: (c) => { h.update(c); }, end: () => { const d = `sha256:${h.digest('hex')}`; if (digests.has(d)) bad.push(`layer ${i}: ${en.path} holds xbuild bytes`); } };
    });
  }
  return bad;
}

for (const m of MATRIX) {
  const label = `${m.builder}${m.layers ? ' --layers' : ''}`;
  test.serial(`${label}, ${m.kase}: unwrap gives the built file system minus xbuild, no xbuild bytes in any layer, verify --final passes it, same digest twice`, async (t) => {
    t.timeout(30 * 60_000, 'one build under emulation');
    const dockerfile = m.kase === 'start-plain' ? 'busybox/Dockerfile.plain' : m.kase === 'never-ends' ? 'busybox/Dockerfile.no-end' : 'busybox/Dockerfile';
    const base = m.kase === 'start-plain' ? bases.started : bases.wrapped;
    const slug = `${m.builder}${m.layers ? '-layers' : ''}-${m.kase}`;
    const tag = `${e!.registry.host}/out/${NAME}:${slug}`;
    const clean = `${e!.registry.host}/out/${NAME}:${slug}-clean`;
    const output = await build(m.builder, Boolean(m.layers), dockerfile, base, tag);
    t.is(markers(output)['nested'], '42', 'the RUN lines ran under emulation');

    const u = await e!.xbuild(['unwrap', tag, '-t', clean, '--json']);
    t.is(u.code, 0, u.stderr);
    const report = JSON.parse(u.stdout);
    t.log(`${label} ${m.kase}: layers ${JSON.stringify(report.platforms[0].layers)}, ${report.bytesSaved} bytes saved`);
    t.true(report.bytesSaved > 1_000_000, 'at least the emulator went');

    const built = await open(tag);
    const result = await open(clean);
    const plainFs = await mergedFs(await (await open(bases.plain)).layers());
    const wrappedFs = await mergedFs(await (await open(bases.wrapped)).layers());
    const xbuildOnlyDirs = [...wrappedFs].filter(([p, f]) => f.type === 'dir' && !plainFs.has(p)).map(([p]) => p);
    const want = expectedFrom(await mergedFs(await built.layers()), xbuildOnlyDirs);
    const got = await mergedFs(await result.layers());
    const diff = [...new Set([...want.keys(), ...got.keys()])].filter((p) => JSON.stringify(want.get(p)) !== JSON.stringify(got.get(p)));
    t.deepEqual(diff.map((p) => `${p}: ${JSON.stringify(want.get(p))} -> ${JSON.stringify(got.get(p))}`), []);
    t.is(got.get('bin/busybox')?.digest, plainFs.get('bin/busybox')?.digest, 'busybox is the original');

    const emu = createHash('sha256').update(await readFile(await findEmulator('arm'))).digest('hex');
    const shim = wrappedFs.get('usr/bin/cross-build-start')!.digest!;
    t.deepEqual(await forbiddenInLayers(await result.layers(), new Set([`sha256:${emu}`, shim])), []);
    const bl = (await (await open(bases.plain)).manifest()).layers.map((l) => l.digest);
    t.deepEqual((await result.manifest()).layers.slice(0, bl.length).map((l) => l.digest), bl, 'the base layers are reused byte-identically');

    const vf = await e!.xbuild(['verify', '--final', clean]);
    t.is(vf.code, 0, vf.stdout + vf.stderr);
    const vi = await e!.xbuild(['verify', '--final', tag]);
    t.is(vi.code, 1, vi.stdout + vi.stderr);
    const again = await e!.xbuild(['unwrap', tag, '--output', `type=oci,dest=${join(e!.context, `${slug}-again`)}`, '--json', '--quiet']);
    t.is(JSON.parse(again.stdout).digest, await result.digest(), 'same input, same digest');
  });
}

test.serial('a wrapped image runs locally without binfmt_misc: docker run --entrypoint /usr/bin/qemu-arm-static IMAGE -execve CMD', async (t) => {
  const pull = await e!.dockerd.docker(['pull', bases.wrapped]);
  t.is(pull.code, 0, pull.stderr);
  const r = await e!.dockerd.docker(['run', '--rm', '--platform', PLATFORM, '--entrypoint', '/usr/bin/qemu-arm-static', bases.wrapped,
    '-execve', '/bin/sh', '-c', 'echo "XB machine=$(uname -m)"; echo abc | rev | sed "s/^/XB piped=/"']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /XB machine=armv[78]l/);
  t.regex(r.stdout, /XB piped=cba/);
});

test.serial('bad input: a never-wrapped image and a missing one exit 2 with one xbuild: line', async (t) => {
  for (const ref of [bases.plain, `${e!.registry.host}/out/none:missing`]) {
    const r = await e!.xbuild(['unwrap', ref, '-t', `${e!.registry.host}/out/never:1`]);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.split('\n').filter((l) => l.startsWith('xbuild: ')).length, 1, r.stderr);
    t.false(r.stderr.includes('    at '), 'no stack');
  }
  const r = await e!.xbuild(['unwrap', bases.plain, '-t', `${e!.registry.host}/out/never:1`]);
  t.regex(r.stderr, /was never wrapped by xbuild/);
  const gone = await e!.xbuild(['verify', `${e!.registry.host}/out/never:1`]);
  t.is(gone.code, 2, 'nothing was pushed');
});
