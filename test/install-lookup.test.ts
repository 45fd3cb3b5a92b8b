// The lookup order of src/install/lookup.ts (--qemu-dir, then the platform
// package beside the CLI, then the user cache) and its one-line refusals, on
// real emulators (the patched cache build) and the real shim. Both through the
// library and through the CLI (wrap, doctor) in-process.
import test from 'ava';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCli } from '../src/cli/run.ts';
import { XbuildError } from '../src/errors.ts';
import { locateEmulator, locateShim, type LookupOptions } from '../src/install/lookup.ts';
import { findPlatformPackage, PLATFORM_PACKAGE, sha256Of, type PlatformManifest } from '../src/install/platform-package.ts';
import { diagnose, readBinfmt } from '../src/install/doctor.ts';
import { readSeries } from '../src/qemu/series.ts';
import { ensureShim } from '../src/shims/build.ts';
import { SHIM_VERSION } from '../src/contract/in-image.ts';
import { cacheRoot } from '../src/cache-root.ts';
import { XBUILD_VERSION } from '../src/version.ts';
import { capture } from './helpers/capture.ts';
import { findEmulator } from './helpers/emulators.ts';
import { smallImages } from './helpers/small-images.ts';

let tmp: string;
let realArm: string;
let realShim: string;
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'xbuild-lookup-'));
  realArm = await findEmulator('arm');
  realShim = await ensureShim({ cacheRoot: cacheRoot(process.env) });
});
test.after.always(() => rm(tmp, { recursive: true, force: true }));

async function exe(path: string, from: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await copyFile(from, path);
  await chmod(path, 0o755);
}

/** A platform package like scripts/release.ts writes (only the files the lookup reads). */
async function platformPackage(name: string, opts: { xbuildVersion?: string } = {}): Promise<string> {
  const dir = join(tmp, name, 'node_modules', ...PLATFORM_PACKAGE.split('/'));
  await exe(join(dir, 'bin/qemu-arm-static'), realArm);
  await exe(join(dir, 'bin/xbuild-shim'), realShim);
  const series = await readSeries();
  const files: PlatformManifest['files'] = {};
  for (const f of ['bin/qemu-arm-static', 'bin/xbuild-shim']) files[f] = { sha256: await sha256Of(join(dir, f)), size: (await readFile(join(dir, f))).length };
  const version = /qemu=(\S+)/.exec((await readFile(realArm)).toString('latin1').match(/execve-intercept series=\d+ qemu=[^\0]+/)![0])![1]!;
  const m: PlatformManifest = {
    schema: 1, name: PLATFORM_PACKAGE, xbuildVersion: opts.xbuildVersion ?? XBUILD_VERSION, platform: 'linux/amd64',
    qemu: { version, source: { kind: 'tarball', file: 'x', url: 'x', sha256: '0'.repeat(64) }, targets: ['arm'], buildOptions: { configure: [], strip: true }, toolchain: {} },
    series: { version: series.version, hash: series.hash, patches: [] }, shim: { version: SHIM_VERSION, sourceSha256: '' }, files,
  };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: PLATFORM_PACKAGE, version: '0.0.0' }));
  return dir;
}

/** A user cache with one emulator entry of the given series hash and one shim entry. */
async function userCache(name: string, opts: { seriesHash?: string; shimSource?: string } = {}): Promise<string> {
  const root = join(tmp, name);
  const series = await readSeries();
  const key = 'k'.repeat(20);
  const dir = join(root, 'qemu', key);
  await exe(join(dir, 'qemu-arm-static'), realArm);
  await writeFile(join(dir, 'build.json'), JSON.stringify({
    schema: 1, key, builtAt: '2026-01-01T00:00:00.000Z', buildSeconds: 1,
    qemu: { version: '9.9.9', source: { kind: 'tarball', path: '/x', sha256: '' } },
    series: { version: opts.seriesHash ? 0 : series.version, hash: opts.seriesHash ?? series.hash, patches: [] },
    targets: ['arm'], buildOptions: { configure: [], strip: true }, toolchain: {}, outputs: { 'qemu-arm-static': { sha256: '', size: 1 } },
  }));
  const shimDir = join(root, 'shim', 's'.repeat(20));
  await exe(join(shimDir, 'xbuild-shim'), realShim);
  const shimBuild = JSON.parse(await readFile(join(dirname(realShim), 'build.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(shimDir, 'build.json'), JSON.stringify({ ...shimBuild, ...(opts.shimSource ? { sourceSha256: opts.shimSource } : {}) }));
  return root;
}

async function qemuDir(name: string, withShim: boolean): Promise<string> {
  const d = join(tmp, name);
  await exe(join(d, 'qemu-arm-static'), realArm);
  if (withShim) await exe(join(d, 'xbuild-shim'), realShim);
  return d;
}

const opts = (o: Partial<LookupOptions> & { cache: string }): LookupOptions => ({
  env: { XBUILD_CACHE_DIR: o.cache }, xbuildVersion: XBUILD_VERSION, platformPackageDir: null, ...o,
});

function oneLineRefusal(t: any, err: unknown, re: RegExp, hint: RegExp): void {
  t.true(err instanceof XbuildError, String(err));
  const e = err as XbuildError;
  t.is(e.code, 'NO_EMULATOR');
  t.notRegex(e.message, /\n/);
  t.regex(e.message, re);
  t.regex(e.hint ?? '', hint);
}

test('order: --qemu-dir before the platform package before the cache, for the emulator and the shim', async (t) => {
  const cache = await userCache('c1');
  const pkg = await platformPackage('p1');
  const q = await qemuDir('q1', true);
  const all = opts({ cache, platformPackageDir: pkg, qemuDir: q });
  t.like(await locateEmulator('arm', all), { origin: 'qemu-dir', path: join(q, 'qemu-arm-static') });
  t.like(await locateShim(all), { origin: 'qemu-dir', path: join(q, 'xbuild-shim') });
  const noDir = opts({ cache, platformPackageDir: pkg });
  t.like(await locateEmulator('arm', noDir), { origin: 'platform-package', path: join(pkg, 'bin/qemu-arm-static') });
  t.like(await locateShim(noDir), { origin: 'platform-package', path: join(pkg, 'bin/xbuild-shim') });
  const cacheOnly = opts({ cache });
  t.like(await locateEmulator('arm', cacheOnly), { origin: 'cache', qemuVersion: '9.9.9' });
  t.like(await locateShim(cacheOnly), { origin: 'cache' });
  // a --qemu-dir without a shim takes the shim from the next place in the order
  t.like(await locateShim(opts({ cache, platformPackageDir: pkg, qemuDir: await qemuDir('q2', false) })), { origin: 'platform-package' });
  // the package lacks aarch64: the cache is next (and holds none either)
  oneLineRefusal(t, await locateEmulator('aarch64', noDir).catch((e) => e), /no qemu-aarch64-static .*@xbuild\/linux-x64 has none and the cache .* holds none/, /xbuild qemu build/);
});

test('the platform package is found the way Node resolves it from the CLI (node_modules beside it)', async (t) => {
  const pkg = await platformPackage('p-resolve');
  const cliFile = join(tmp, 'p-resolve', 'node_modules', 'xbuild', 'dist', 'xbuild.mjs');
  await mkdir(dirname(cliFile), { recursive: true });
  t.is(findPlatformPackage(cliFile), pkg);
  t.is(findPlatformPackage(join(tmp, 'elsewhere', 'x.mjs')), undefined);
});

test('refused in one line: platform package of another xbuild version, damaged package, cache of another series or shim source', async (t) => {
  const cache = await userCache('c2');
  const other = await platformPackage('p2', { xbuildVersion: '0.0.1-other' });
  oneLineRefusal(t, await locateEmulator('arm', opts({ cache, platformPackageDir: other })).catch((e) => e),
    new RegExp(`@xbuild/linux-x64 at .* is for xbuild 0\\.0\\.1-other, this is xbuild ${XBUILD_VERSION.replace(/\./g, '\\.')}`), new RegExp(`install @xbuild/linux-x64@${XBUILD_VERSION}`));
  oneLineRefusal(t, await locateShim(opts({ cache, platformPackageDir: other })).catch((e) => e), /is for xbuild 0\.0\.1-other/, /install/);

  const damaged = await platformPackage('p3');
  await writeFile(join(damaged, 'bin/qemu-arm-static'), 'not the packaged file');
  oneLineRefusal(t, await locateEmulator('arm', opts({ cache, platformPackageDir: damaged })).catch((e) => e), /is damaged: bin\/qemu-arm-static has \d+ bytes/, /reinstall/);

  const old = await userCache('c3', { seriesHash: 'f'.repeat(64) });
  oneLineRefusal(t, await locateEmulator('arm', opts({ cache: old })).catch((e) => e), /cached qemu-arm-static .* was built from patch series 0 \(ffffffffffff\), this xbuild ships series \d+/, /run `xbuild qemu build`/);
  const oldShim = await userCache('c4', { shimSource: 'e'.repeat(64) });
  oneLineRefusal(t, await locateShim(opts({ cache: oldShim })).catch((e) => e), /shim in .* was built from another shim source/, /run `xbuild qemu build`/);
  oneLineRefusal(t, await locateShim(opts({ cache: join(tmp, 'empty') })).catch((e) => e), /no xbuild shim: @xbuild\/linux-x64 is not installed/, /xbuild qemu build/);
});

test('CLI: wrap with an old-series cache prints one `xbuild:` line + hint, exit 2, writes nothing; doctor --json names the origins', async (t) => {
  const images = await smallImages();
  const old = await userCache('c5', { seriesHash: 'f'.repeat(64) });
  const c = capture();
  c.ctx.env = { XBUILD_CACHE_DIR: old, HOME: tmp };
  const out = join(tmp, 'wrap-out');
  t.is(await runCli(['wrap', `oci:${images}/armhf`, '--output', `type=oci,dest=${out}`, '-q'], c.ctx), 2);
  const lines = c.stderr().trim().split('\n');
  t.is(lines.length, 2, c.stderr());
  t.regex(lines[0]!, /^xbuild: .*was built from patch series 0/);
  t.regex(lines[1]!, /^hint: run `xbuild qemu build`/);
  t.is(await readFile(join(out, 'index.json')).catch(() => undefined), undefined, 'no half-written output');

  const d = capture();
  d.ctx.env = { XBUILD_CACHE_DIR: await userCache('c6'), HOME: tmp };
  t.is(await runCli(['doctor', '--json', '--qemu-dir', await qemuDir('q3', false)], d.ctx), 1, d.stderr()); // no aarch64 anywhere
  const r = JSON.parse(d.stdout());
  t.like(r.emulators.arm, { ok: true, origin: 'qemu-dir' });
  t.like(r.emulators.aarch64, { ok: false });
  t.like(r.shim, { ok: true, origin: 'cache' });
  t.deepEqual(r.emulators.arm.checks.map((x: { ok: boolean }) => x.ok), [true, true, true]);
});

test('doctor: binfmt_misc handlers for ARM are recognised from their ELF magic; unmounted is said so', async (t) => {
  const dir = join(tmp, 'binfmt');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'status'), 'enabled\n');
  await writeFile(join(dir, 'register'), '');
  await writeFile(join(dir, 'qemu-arm'), 'enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n');
  await writeFile(join(dir, 'python3.11'), 'enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n');
  // Debian qemu-user-binfmt's magics: riscv64 and ppc64le little-endian, s390x big-endian (e_machine 0x0016 in file order)
  await writeFile(join(dir, 'qemu-riscv64'), 'enabled\ninterpreter /usr/bin/qemu-riscv64\nflags: F\noffset 0\nmagic 7f454c460201010000000000000000000200f300\n');
  await writeFile(join(dir, 'qemu-ppc64le'), 'enabled\ninterpreter /usr/bin/qemu-ppc64le\nflags: F\noffset 0\nmagic 7f454c4602010100000000000000000002001500\n');
  await writeFile(join(dir, 'qemu-s390x'), 'enabled\ninterpreter /usr/bin/qemu-s390x\nflags: F\noffset 0\nmagic 7f454c4602020100000000000000000000020016\n');
  // ppc64 big-endian (ELFv1) is not what the ppc64le emulator runs
  await writeFile(join(dir, 'qemu-ppc64'), 'enabled\ninterpreter /usr/bin/qemu-ppc64\nflags: F\noffset 0\nmagic 7f454c4602020100000000000000000000020015\n');
  const b = await readBinfmt(dir);
  t.deepEqual(b.emulated, ['arm', 'riscv64', 'ppc64le', 's390x']);
  t.is(b.handlers.length, 6);
  t.deepEqual(await readBinfmt(join(tmp, 'nowhere')), { mounted: false, handlers: [], emulated: [] });
  const r = await diagnose({ ...opts({ cache: join(tmp, 'empty2') }), binfmtDir: dir });
  t.false(r.ok);
  t.deepEqual(r.binfmt.emulated, ['arm', 'riscv64', 'ppc64le', 's390x']);
});
