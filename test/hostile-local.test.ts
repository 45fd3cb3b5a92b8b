// Issue 18: `wrap` (and `verify`) under malformed local inputs, through the
// built bundle (bin/xbuild.mjs). Inputs come from test/helpers/hostile-inputs.ts.
// Every bad input must give exit 2 and one `xbuild:` line (never 70, never a
// signal, never a hang); exit 0 must mean a correct result.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOneLine, REAL_CACHE, xbuildBin } from './helpers/hostile-cli.ts';
import { baseParts, LayoutBuilder, sbomArtifact, standInQemuDir, tarWithHugeHeader, writeDockerArchive } from './helpers/hostile-inputs.ts';

let tmp: string;
let qemu: string;
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-hostile-'));
  qemu = await standInQemuDir(join(tmp, 'qemu'));
});
test.after.always(async () => { await rm(tmp, { recursive: true, force: true }); });

const xbuild = (args: string[], timeoutMs = 60_000, nodeArgs: string[] = []) => xbuildBin(args, { env: { HOME: tmp, XBUILD_CACHE_DIR: REAL_CACHE }, timeoutMs, nodeArgs });
const oneLine = assertOneLine;

let n = 0;
const out = () => join(tmp, `out${++n}`);
const wrapArgs = (src: string, dest = out()) => ['wrap', src, '--qemu-dir', qemu, '--output', `type=oci,dest=${dest}`, '-q'];

test.serial('docker-archive manifest.json with wrong types or missing Layers: one line, exit 2 (was exit 70 with a stack)', async (t) => {
  const cases: Array<[string, (c: string, l: string) => unknown, RegExp]> = [
    ['no-layers', (c) => [{ Config: c, RepoTags: ['a:1'] }], /\[0\]\.Layers is undefined, expected an array/],
    ['config-5', (_c, l) => [{ Config: 5, Layers: [l] }], /\[0\]\.Config is number, expected a string/],
    ['layers-7', (c) => [{ Config: c, Layers: [7] }], /\[0\]\.Layers\[0\] is number/],
    ['layers-null', (c) => [{ Config: c, Layers: [null] }], /\[0\]\.Layers\[0\] is null/],
    ['repotags-string', (c, l) => [{ Config: c, RepoTags: 'a:1', Layers: [l] }], /\[0\]\.RepoTags is string/],
    ['entry-string', () => ['x'], /\[0\] is string, expected an object/],
  ];
  for (const [name, manifest, re] of cases) {
    const f = join(tmp, `${name}.tar`);
    await writeDockerArchive(f, { manifest });
    oneLine(t, await xbuild(wrapArgs(`docker-archive:${f}`)), re);
  }
});

test.serial('configs with wrongly typed fields (variant, history, Labels, Env): one line, exit 2, for wrap and verify', async (t) => {
  const base = await baseParts();
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['variant-7', { ...base.config, variant: 7 }, /variant is number, expected a string/],
    ['history-5', { ...base.config, history: 5 }, /history is number, expected an array/],
    ['history-entry', { ...base.config, history: [{ created_by: 5 }] }, /history\[0\]\.created_by is number/],
    ['labels-abc', { ...base.config, config: { Labels: 'abc' } }, /config\.Labels is string, expected an object of strings/],
    ['env-obj', { ...base.config, config: { Env: { a: 1 } } }, /config\.Env is object/],
    ['arch-num', { ...base.config, architecture: 64 }, /architecture is number/],
  ];
  for (const [name, config, re] of cases) {
    const f = join(tmp, `cfg-${name}.tar`);
    await writeDockerArchive(f, { config });
    oneLine(t, await xbuild(wrapArgs(`docker-archive:${f}`)), re);
    if (name !== 'variant-7' && name !== 'labels-abc') continue;
    const l = await new LayoutBuilder(join(tmp, `cfg-${name}`)).init();
    await l.tag(await l.image(base, config));
    oneLine(t, await xbuild(wrapArgs(`oci:${l.dir}`)), re);
    oneLine(t, await xbuild(['verify', `oci:${l.dir}`]), re);
  }
});

test.serial('index entry with platform.variant 7: one line, exit 2 (was a crash in platform normalisation)', async (t) => {
  const base = await baseParts();
  const l = await new LayoutBuilder(join(tmp, 'idx-variant')).init();
  const img = await l.image(base);
  await l.tag(await l.index([{ ...img, platform: { os: 'linux', architecture: 'arm', variant: 7 } }]));
  const r = await xbuild(wrapArgs(`oci:${l.dir}`));
  oneLine(t, r, /platform\.variant is number, expected a string/);
  oneLine(t, await xbuild(['verify', `oci:${l.dir}`]), /platform\.variant is number/);
});

test.serial('tar headers claiming 3 GiB (PAX x, GNU L) or 1 TiB (base-256) in a 2 KB file: one line, exit 2 (was a native abort, exit 134)', async (t) => {
  const cases: Array<['pax' | 'gnu-long-name' | 'base256', number, RegExp]> = [
    ['pax', 3 * 2 ** 30, /header of 3221225472 bytes \(the limit is 1048576\)/],
    ['gnu-long-name', 3 * 2 ** 30, /header of 3221225472 bytes \(the limit is 1048576\)/],
    ['base256', 2 ** 40, /claims 1099511627776 bytes, past the end/],
  ];
  for (const [kind, claim, re] of cases) {
    const f = join(tmp, `huge-${kind}.tar`);
    await writeFile(f, tarWithHugeHeader(kind, claim));
    oneLine(t, await xbuild(wrapArgs(`docker-archive:${f}`)), re);
    oneLine(t, await xbuild(['verify', `docker-archive:${f}`]), re);
  }
  // a PAX record above Go's 1 MiB cap that the file really holds
  const big = Buffer.concat([tarWithHugeHeader('pax', 2 * 2 ** 20).subarray(0, 512), Buffer.alloc(2 * 2 ** 20 + 1024)]);
  const f = join(tmp, 'pax-2mib.tar');
  await writeFile(f, big);
  oneLine(t, await xbuild(wrapArgs(`docker-archive:${f}`)), /header of 2097152 bytes \(the limit is 1048576\)/);
});

test.serial('an existing OCI layout holding a corrupt blob of the right size under the base layer digest: rewritten, never "Already exists"', async (t) => {
  const base = await baseParts();
  const src = await new LayoutBuilder(join(tmp, 'corrupt-src')).init();
  const img = await src.image(base);
  await src.tag(img);
  const dest = await new LayoutBuilder(join(tmp, 'corrupt-dest')).init();
  await writeFile(join(dest.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
  const layerDigest = `sha256:${createHash('sha256').update(base.layerGz).digest('hex')}`;
  const wrong = Buffer.alloc(base.layerGz.length, 0x5a);
  await writeFile(dest.path(layerDigest), wrong);
  const r = await xbuild(['wrap', `oci:${src.dir}`, '--qemu-dir', qemu, '--output', `type=oci,dest=${dest.dir}`, '-t', 'x:1']);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, new RegExp(`${layerDigest.slice(7, 19)}: Already exists`));
  const now = await readFile(dest.path(layerDigest));
  t.is(`sha256:${createHash('sha256').update(now).digest('hex')}`, layerDigest);
  // and skopeo reads the whole result without a digest error
  t.notThrows(() => execFileSync('skopeo', ['copy', '-q', `oci:${dest.dir}:1`, `oci:${join(tmp, 'corrupt-copy')}:1`]));
});

test.serial('an index holding an OCI 1.1 artifact (SBOM, empty config) under a platform: kept byte for byte, the image wrapped', async (t) => {
  const base = await baseParts();
  const l = await new LayoutBuilder(join(tmp, 'artifact')).init();
  const img = await l.image(base);
  const sbom = await sbomArtifact(l, img);
  const plat = { os: 'linux', architecture: 'arm', variant: 'v7' };
  await l.tag(await l.index([{ ...img, platform: plat }, { ...sbom, platform: plat }, { ...sbom, artifactType: 'application/spdx+json' }]));
  const dest = out();
  const r = await xbuild([...wrapArgs(`oci:${l.dir}`, dest), '--json']);
  t.is(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  t.deepEqual(rep.platforms.map((p: { action: string }) => p.action), ['wrapped', 'kept', 'kept']);
  t.is(rep.platforms[1].digest, sbom.digest);
  const blob = await readFile(join(dest, 'blobs', 'sha256', sbom.digest.slice(7)));
  t.is(`sha256:${createHash('sha256').update(blob).digest('hex')}`, sbom.digest);
  // verify skips the artifact instead of failing on its config (exit 0 passes, 1 findings: either way it ran)
  const v = await xbuild(['verify', `oci:${dest}`, '--json']);
  t.true(v.code === 0 || v.code === 1, v.stderr);
  t.true(JSON.parse(v.stdout).skipped.some((s: { reason: string }) => /artifact/.test(s.reason)));
});

test.serial('an index entry saying arm64 whose config says arm/v7: refused, one line (was wrapped with qemu-arm under arm64)', async (t) => {
  const base = await baseParts();
  const l = await new LayoutBuilder(join(tmp, 'mismatch')).init();
  const img = await l.image(base);
  await l.tag(await l.index([{ ...img, platform: { os: 'linux', architecture: 'arm64' } }]));
  oneLine(t, await xbuild(wrapArgs(`oci:${l.dir}`)), /index entry says linux\/arm64 but the image config says linux\/arm\/v7/);
});

test.serial('a FIFO as a blob in an oci: layout: refused at once (was a hang)', async (t) => {
  const base = await baseParts();
  const l = await new LayoutBuilder(join(tmp, 'fifo')).init();
  const img = await l.image(base);
  await l.tag(img);
  const layerDigest = `sha256:${createHash('sha256').update(base.layerGz).digest('hex')}`;
  await rm(l.path(layerDigest));
  execFileSync('mkfifo', [l.path(layerDigest)]);
  const dest = out();
  const r = await xbuild(wrapArgs(`oci:${l.dir}`, dest));
  oneLine(t, r, /is not a regular file/);
  t.false((await readdir(tmp)).includes(dest.split('/').pop()!));
});

/** An index of `n` linux/arm/v7 entries, each with a config of about `mib` MiB (a long label). */
async function bigConfigIndex(dir: string, n: number, mib: number) {
  const base = await baseParts();
  const l = await new LayoutBuilder(dir).init();
  const entries = [];
  for (let i = 0; i < n; i++) {
    const config = { ...base.config, config: { Labels: { big: `${i}`.padEnd(Math.floor(mib * 2 ** 20), 'x') } } };
    entries.push({ ...await l.image(base, config), platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
  }
  await l.tag(await l.index(entries));
  return l;
}

test.serial('memory: an index whose children have 15 MiB configs is wrapped within a 160 MB heap; past 64 MiB of documents it is refused', async (t) => {
  const ok = await bigConfigIndex(join(tmp, 'big3'), 3, 15);
  const r = await xbuild(wrapArgs(`oci:${ok.dir}`), 120_000, ['--max-old-space-size=160']);
  t.is(r.code, 0, r.stderr.slice(0, 2000));
  t.is(r.signal, null);
  await rm(ok.dir, { recursive: true, force: true });
  const big = await bigConfigIndex(join(tmp, 'big5'), 5, 13.5);
  oneLine(t, await xbuild(wrapArgs(`oci:${big.dir}`), 120_000, ['--max-old-space-size=160']), /entries total more than 67108864 bytes/);
  await rm(big.dir, { recursive: true, force: true });
});

test.serial('one malformed descriptor in an OCI layout\'s index.json breaks only that entry: other tags still wrap; naming the broken one is one line, exit 2', async (t) => {
  const l = await new LayoutBuilder(join(tmp, 'one-bad-entry')).init();
  const good = await l.image(await baseParts());
  await writeFile(join(l.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:nope', size: -1, annotations: { 'org.opencontainers.image.ref.name': 'broken' } },
    { ...good, annotations: { 'org.opencontainers.image.ref.name': 'good' } },
  ] }));
  const r = await xbuild(wrapArgs(`oci:${l.dir}:good`));
  t.is(r.code, 0, r.stderr);
  oneLine(t, await xbuild(wrapArgs(`oci:${l.dir}:broken`)), /index\.json manifests\[0\].*not a sha256 digest/);
});
