// `npm run release`: writes two npm tarballs into release/ (git-ignored):
//   xbuild-<v>.tgz              the CLI: one esbuild bundle, pure JavaScript, no native file
//   xbuild-linux-x64-<v>.tgz    @xbuild/linux-x64: the prebuilt static emulators and shim
//                               from the xbuild cache, QEMU's licence, the patch series,
//                               the source pointer and a manifest (src/install/platform-package.ts)
// Needs what scripts/setup.sh leaves: the cache entry `xbuild qemu build` made from the
// current patch series (and its shim). Builds nothing itself except the JS bundle.
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { listCacheEntries } from '../src/qemu/cache.ts';
import { QEMU_ARCHES } from '../src/oci/platform.ts';
import { emulatorFileName, SHIM_VERSION } from '../src/contract/in-image.ts';
import { checkEmulator } from '../src/qemu/elf-check.ts';
import { readSeries } from '../src/qemu/series.ts';
import { PINNED_QEMU } from '../src/qemu/pinned.ts';
import { locateCachedShim } from '../src/install/lookup.ts';
import { findShimSourceDir, SHIM_FILE_NAME, SHIM_PARTS_DIR, SHIM_SOURCE_NAME, shimSourceSha256 } from '../src/shims/build.ts';
import { checkShimBinary } from '../src/shims/elf-check.ts';
import {
  MANIFEST_SCHEMA, PLATFORM_BIN_DIR, PLATFORM_MANIFEST, PLATFORM_PACKAGE, sha256Of, type PlatformManifest,
} from '../src/install/platform-package.ts';

const run = promisify(execFile);
const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
/** release/ of the checkout, or `--out DIR` (tests write their own copy). */
const outArg = process.argv.indexOf('--out');
const OUT = outArg > 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]!) : join(ROOT, 'release');

function die(msg: string, hint?: string): never {
  process.stderr.write(`release: ${msg}\n${hint ? `hint: ${hint}\n` : ''}`);
  process.exit(2);
}
const step = (s: string) => process.stderr.write(`release: ${s}\n`);

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await listFiles(p, base));
    else out.push(relative(base, p).split('\\').join('/'));
  }
  return out.sort();
}

/** Debian mirror of this machine (never written into the repository: read from debian.sources). */
async function debianMirror(): Promise<string | undefined> {
  const text = await readFile('/etc/apt/sources.list.d/debian.sources', 'utf8').catch(() => '');
  return /^URIs:\s*(\S+)/m.exec(text)?.[1]?.replace(/\/+$/, '');
}

/** Where the exact corresponding source is: URL, sha256, and for Debian's .orig the source package. */
async function sourcePointer(src: { kind: string; path: string; sha256: string }, version: string): Promise<PlatformManifest['qemu']['source']> {
  const file = basename(src.path);
  if (src.kind === 'tarball') {
    return { kind: src.kind, file, url: PINNED_QEMU.url.replaceAll(PINNED_QEMU.version, version), sha256: src.sha256 };
  }
  if (src.kind === 'debian-orig') {
    const dsc = (await readdir(dirname(src.path)).catch(() => [] as string[])).filter((n) => n.endsWith('.dsc')).sort().pop();
    const dscText = dsc ? await readFile(join(dirname(src.path), dsc), 'utf8') : '';
    const pkgVersion = /^Version:\s*(\S+)/m.exec(dscText)?.[1];
    const mirror = await debianMirror();
    if (!mirror) die('cannot tell the Debian archive URL (no URIs line in /etc/apt/sources.list.d/debian.sources)');
    return {
      kind: src.kind, file, url: `${mirror}/pool/main/q/qemu/${file}`, sha256: src.sha256,
      ...(pkgVersion ? { debianPackage: `qemu ${pkgVersion}` } : {}),
    };
  }
  die(`the cached emulators were built from a source ${src.kind} (${src.path}), which has no public URL`,
    'build them from a tarball: xbuild qemu build --source qemu-X.Y.Z.tar.xz (or Debian\'s .dsc, as scripts/build-emulators.sh does)');
}

/** COPYING, COPYING.LIB and LICENSE of the QEMU source the emulators were built from. */
async function qemuLicences(tarball: string, dest: string): Promise<string[]> {
  const tmp = await mkdtemp(join(tmpdir(), 'xbuild-release-'));
  try {
    const { stdout } = await run('tar', ['-tf', tarball], { maxBuffer: 1 << 26 });
    const wanted = stdout.split('\n').filter((p) => /^[^/]+\/(COPYING|COPYING\.LIB|LICENSE)$/.test(p));
    if (!wanted.some((p) => p.endsWith('/COPYING'))) die(`${tarball} has no top-level COPYING`);
    await run('tar', ['-xf', tarball, '-C', tmp, ...wanted]);
    await mkdir(dest, { recursive: true });
    for (const p of wanted) await copyFile(join(tmp, p), join(dest, basename(p)));
    return wanted.map((p) => basename(p));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Licence texts of the npm packages esbuild puts into the bundle (their MIT/ISC terms ask for the notice). */
async function bundledLicences(): Promise<string> {
  const r = await build({ entryPoints: [join(ROOT, 'src/cli/main.ts')], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
  const pkgs = new Set<string>();
  for (const input of Object.keys(r.metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) pkgs.add(m[1]!);
  }
  let text = 'Third-party packages bundled into dist/xbuild.mjs, with their licence texts.\n';
  for (const name of [...pkgs].sort()) {
    const dir = join(ROOT, 'node_modules', name);
    const pj = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string; license?: string };
    const lic = (await readdir(dir)).find((n) => /^(licen[cs]e|copying)(\.|$)/i.test(n));
    const body = lic ? await readFile(join(dir, lic), 'utf8') : `(no licence file in the package; package.json says ${pj.license})`;
    text += `\n${'='.repeat(72)}\n${name}@${pj.version} (${pj.license ?? 'unknown'})\n${'='.repeat(72)}\n${body.trim()}\n`;
  }
  return text;
}

async function npmPack(dir: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', OUT], { cwd: dir, env: { ...process.env, npm_config_loglevel: 'error' } });
  return join(OUT, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
}

const pkgJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string };
const version = pkgJson.version;
const series = await readSeries(join(ROOT, 'patches'));

step(`xbuild ${version}, patch series ${series.version} (${series.hash.slice(0, 12)})`);
const entry = (await listCacheEntries(process.env)).find((e) => e.record.series.hash === series.hash && QEMU_ARCHES.every((a) => e.record.outputs[emulatorFileName(a)]));
if (!entry) die(`no cache entry built from the current patch series with ${QEMU_ARCHES.map(emulatorFileName).join(' and ')}`, 'run scripts/setup.sh (or xbuild qemu build) first');
const rec = entry.record;
step(`emulators: ${entry.dir} (QEMU ${rec.qemu.version}, ${rec.qemu.source.kind} ${basename(rec.qemu.source.path)})`);
const shim = await locateCachedShim(process.env).catch((e: Error & { hint?: string }) => die(e.message, e.hint ?? 'run xbuild qemu build'));
step(`shim: ${shim.path}`);

const stage = join(OUT, '.stage');
await rm(stage, { recursive: true, force: true });
await mkdir(OUT, { recursive: true });
for (const f of await readdir(OUT)) if (f.endsWith('.tgz')) await rm(join(OUT, f));

// --- the platform package ---
const plat = join(stage, 'platform');
await mkdir(join(plat, PLATFORM_BIN_DIR), { recursive: true });
for (const a of QEMU_ARCHES) {
  const f = emulatorFileName(a);
  const dest = join(plat, PLATFORM_BIN_DIR, f);
  await copyFile(join(entry.dir, f), dest);
  if ((await sha256Of(dest)) !== rec.outputs[f]!.sha256) die(`${join(entry.dir, f)} does not match the sha256 its build.json records`, 'rebuild: remove the entry and run xbuild qemu build');
  await checkEmulator(dest, { seriesVersion: series.version, qemuVersion: rec.qemu.version }); // ELF inspector: x86_64, static, xbuild note
}
await copyFile(shim.path, join(plat, PLATFORM_BIN_DIR, SHIM_FILE_NAME));
checkShimBinary(await readFile(join(plat, PLATFORM_BIN_DIR, SHIM_FILE_NAME)), SHIM_FILE_NAME);
const source = await sourcePointer(rec.qemu.source, rec.qemu.version);
const licences = await qemuLicences(rec.qemu.source.path, join(plat, 'licenses', 'qemu'));
await cp(join(ROOT, 'patches'), join(plat, 'patches'), { recursive: true });
const shimSource = join(await findShimSourceDir(), SHIM_SOURCE_NAME);
await writeFile(join(plat, 'SOURCE.md'), `# Corresponding source of the binaries in bin/

QEMU is free software under the GNU General Public License version 2
(licenses/qemu/${licences.join(', licenses/qemu/')}, taken from the source below).
The emulators bin/qemu-*-static are QEMU ${rec.qemu.version} built as follows:

1. Source: \`${source.file}\`, sha256 \`${source.sha256}\`
   from ${source.url}${source.debianPackage ? `\n   (Debian source package ${source.debianPackage}: \`apt-get source ${source.debianPackage.replace(' ', '=')}\`)` : ''}
2. Patches: the series in patches/ (series version ${series.version}, hash ${series.hash}), applied in the
   order of patches/series with \`patch -p1 --fuzz=0\`.
3. Build: \`xbuild qemu build --source ${source.file}\` of xbuild ${version}
   (configure flags and toolchain in manifest.json; the recipe is src/qemu/ of xbuild's source).${rec.buildOptions.profileSha256 ? `
   Compiled with gcc's profile patches/pgo/profile.tar.xz (sha256 ${rec.buildOptions.profileSha256}),
   the counters of a training run (patches/pgo/train.sh; patches/pgo/profile.json says how it was made).` : ''}

bin/xbuild-shim is xbuild's own program (MIT), compiled from shims/${SHIM_SOURCE_NAME} and the
parts it includes from shims/${SHIM_PARTS_DIR}/ of xbuild ${version} (source sha256
${await shimSourceSha256(dirname(shimSource))}, as manifest.json's shim.sourceSha256), which are in the xbuild package.

If you redistribute these binaries, the GPL asks you to pass on this offer of the
source: keep a copy of the tarball above (its sha256 identifies it) with your release.
`);
await writeFile(join(plat, 'README.md'), `# ${PLATFORM_PACKAGE}\n\nPrebuilt static x86_64 emulators (QEMU ${rec.qemu.version} + xbuild's execve-interception series ${series.version}) and the cross-build shim for xbuild ${version}. Installed as an optional dependency of \`xbuild\`; not useful alone. See SOURCE.md and manifest.json.\n`);
const files: PlatformManifest['files'] = {};
for (const f of await listFiles(plat)) {
  files[f] = { sha256: await sha256Of(join(plat, f)), size: (await stat(join(plat, f))).size };
}
const manifest: PlatformManifest = {
  schema: MANIFEST_SCHEMA, name: PLATFORM_PACKAGE, xbuildVersion: version, platform: 'linux/amd64',
  qemu: { version: rec.qemu.version, source, targets: rec.targets, buildOptions: rec.buildOptions, toolchain: rec.toolchain },
  series: { version: series.version, hash: series.hash, patches: series.patches.map((p) => ({ name: p.name, sha256: p.sha256 })) },
  shim: { version: SHIM_VERSION, sourceSha256: await shimSourceSha256(dirname(shimSource)) },
  files,
};
await writeFile(join(plat, PLATFORM_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
await writeFile(join(plat, 'package.json'), `${JSON.stringify({
  name: PLATFORM_PACKAGE, version,
  description: `Prebuilt static emulators (QEMU ${rec.qemu.version}, execve interception) and cross-build shim for xbuild on Linux x86_64`,
  license: '(GPL-2.0-only AND MIT)', os: ['linux'], cpu: ['x64'], preferUnplugged: true,
}, null, 2)}\n`);

// --- the CLI package ---
step('bundling the CLI');
const cli = join(stage, 'cli');
await mkdir(join(cli, 'dist'), { recursive: true });
await run(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--outfile', join(cli, 'dist/xbuild.mjs')], { cwd: ROOT });
await rm(join(cli, 'dist/xbuild.mjs.map'), { force: true }); // the package carries the bundle, not its source map
await cp(join(ROOT, 'bin'), join(cli, 'bin'), { recursive: true });
await writeFile(join(cli, 'dist/THIRD-PARTY-LICENSES.txt'), await bundledLicences());
await cp(join(ROOT, 'patches'), join(cli, 'patches'), { recursive: true });
await mkdir(join(cli, 'shims'));
for (const f of [SHIM_SOURCE_NAME, 'README.md']) await copyFile(join(ROOT, 'shims', f), join(cli, 'shims', f));
await cp(join(ROOT, 'shims', SHIM_PARTS_DIR), join(cli, 'shims', SHIM_PARTS_DIR), { recursive: true }); // the parts xbuild-shim.c includes
await copyFile(join(ROOT, 'README.md'), join(cli, 'README.md'));
await writeFile(join(cli, 'package.json'), `${JSON.stringify({
  name: pkgJson.name, version, description: pkgJson.description, license: pkgJson.license, type: 'module',
  bin: pkgJson.bin, engines: pkgJson.engines,
  optionalDependencies: { [PLATFORM_PACKAGE]: version },
}, null, 2)}\n`);

const tarballs = [await npmPack(cli), await npmPack(plat)];
await rm(stage, { recursive: true, force: true });
for (const t of tarballs) {
  process.stdout.write(`${relative(process.cwd(), t)}  ${(await stat(t)).size} bytes  sha256 ${await sha256Of(t)}\n`);
}
