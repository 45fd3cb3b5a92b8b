// What `npm run release` packs: the platform package's files against its
// manifest (every file listed with the right sha256 and size, nothing extra),
// QEMU's licence, the patch series of this checkout, the source pointer, the
// binaries passing the ELF inspector; and a CLI package holding no native
// binary (no ELF anywhere, no .node, just the bundle and texts).
import test from 'ava';
import { QEMU_ARCHES } from '../src/oci/platform.ts';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { checkEmulator } from '../src/qemu/elf-check.ts';
import { readSeries } from '../src/qemu/series.ts';
import { checkShimBinary } from '../src/shims/elf-check.ts';
import type { PlatformManifest } from '../src/install/platform-package.ts';
import { makeRelease, type Release } from './helpers/release.ts';

const run = promisify(execFile);
let work: string;
let rel: Release;
let plat: string;
let cli: string;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  return out.sort();
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'xbuild-release-contents-'));
  rel = await makeRelease(join(work, 'release'));
  for (const [name, tgz] of [['cli', rel.cli], ['platform', rel.platform]] as const) {
    await run('mkdir', ['-p', join(work, name)]);
    await run('tar', ['-xzf', tgz, '-C', join(work, name)]);
  }
  plat = join(work, 'platform', 'package');
  cli = join(work, 'cli', 'package');
});
test.after.always(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

test('release wrote exactly the two tarballs, named by package and version', async (t) => {
  const version = JSON.parse(await readFile('package.json', 'utf8')).version;
  t.deepEqual((await readdir(rel.dir)).sort(), [`xbuild-${version}.tgz`, `xbuild-linux-x64-${version}.tgz`]);
});

test('platform package: every file is in the manifest with its sha256 and size, and nothing else is', async (t) => {
  const m = JSON.parse(await readFile(join(plat, 'manifest.json'), 'utf8')) as PlatformManifest;
  const files = (await listFiles(plat)).filter((f) => f !== 'manifest.json' && f !== 'package.json');
  t.deepEqual(Object.keys(m.files).sort(), files);
  for (const f of files) {
    const b = await readFile(join(plat, f));
    t.is(m.files[f]!.sha256, sha(b), f);
    t.is(m.files[f]!.size, b.length, f);
  }
  const pkg = JSON.parse(await readFile(join(plat, 'package.json'), 'utf8'));
  t.like(pkg, { name: '@xbuild/linux-x64', version: m.xbuildVersion, os: ['linux'], cpu: ['x64'] });
  const cliPkg = JSON.parse(await readFile(join(cli, 'package.json'), 'utf8'));
  t.deepEqual(cliPkg.optionalDependencies, { '@xbuild/linux-x64': m.xbuildVersion });
  t.is(cliPkg.version, m.xbuildVersion);
});

test('platform package: binaries pass the ELF inspector (static x86_64, xbuild notes of this series and QEMU version)', async (t) => {
  const m = JSON.parse(await readFile(join(plat, 'manifest.json'), 'utf8')) as PlatformManifest;
  for (const a of QEMU_ARCHES) { // the release carries every target
    const f = await checkEmulator(join(plat, 'bin', `qemu-${a}-static`), { seriesVersion: m.series.version, qemuVersion: m.qemu.version });
    t.is(f.marker, `execve-intercept series=${m.series.version} qemu=${m.qemu.version}`);
  }
  const shim = checkShimBinary(await readFile(join(plat, 'bin', 'xbuild-shim')), 'xbuild-shim');
  t.not(shim.linkage, 'dynamic');
});

test('platform package: QEMU licence, the patch series of this checkout, and the pointer to the exact source', async (t) => {
  const m = JSON.parse(await readFile(join(plat, 'manifest.json'), 'utf8')) as PlatformManifest;
  const copying = await readFile(join(plat, 'licenses', 'qemu', 'COPYING'), 'utf8');
  t.regex(copying, /GNU GENERAL PUBLIC LICENSE\s+Version 2, June 1991/);
  const series = await readSeries();
  t.is(m.series.hash, series.hash);
  t.deepEqual(m.series.patches, series.patches.map((p) => ({ name: p.name, sha256: p.sha256 })));
  for (const p of series.patches) t.is(await readFile(join(plat, 'patches', p.name), 'utf8'), p.text);
  t.is(await readFile(join(plat, 'patches', 'series'), 'utf8'), await readFile('patches/series', 'utf8'));
  t.regex(m.qemu.source.sha256, /^[0-9a-f]{64}$/);
  t.regex(m.qemu.source.url, /^https?:\/\/\S+\/qemu[-_]\S+\.tar\.(xz|gz|bz2)$/);
  t.true(m.qemu.source.url.endsWith(m.qemu.source.file));
  const source = await readFile(join(plat, 'SOURCE.md'), 'utf8');
  for (const s of [m.qemu.source.url, m.qemu.source.sha256, series.hash, 'patch -p1 --fuzz=0']) t.true(source.includes(s), s);
  // the gcc profile the emulators were compiled with travels with them, named by SOURCE.md
  const profile = m.qemu.buildOptions.profileSha256;
  t.truthy(profile, 'the released emulators were compiled with the gcc profile of patches/pgo/');
  t.true(source.includes(profile!), 'SOURCE.md names the profile');
  t.is(sha(await readFile(join(plat, 'patches', 'pgo', 'profile.tar.xz'))), profile!);
});

test('CLI package: small, pure JavaScript: no ELF or other native file, the bundle, patches and shim source', async (t) => {
  const files = await listFiles(cli);
  for (const f of files) {
    const head = (await readFile(join(cli, f))).subarray(0, 4);
    t.false(head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), `${f} is an ELF file`);
    t.false(f.endsWith('.node') || f.endsWith('.so') || f.endsWith('.wasm'), f);
  }
  for (const f of ['bin/xbuild.mjs', 'dist/xbuild.mjs', 'dist/THIRD-PARTY-LICENSES.txt', 'package.json', 'patches/series', 'shims/xbuild-shim.c', 'README.md']) t.true(files.includes(f), f);
  const size = (await stat(rel.cli)).size;
  t.true(size < 2_000_000, `CLI tarball is ${size} bytes`);
  const pkg = JSON.parse(await readFile(join(cli, 'package.json'), 'utf8'));
  t.is(pkg.dependencies, undefined, 'everything is bundled');
  t.deepEqual(pkg.bin, { xbuild: 'bin/xbuild.mjs' });
});
