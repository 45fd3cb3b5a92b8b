// Driver units of `xbuild qemu build`: cache key, series, source detection,
// the offline default download, the cache hit path and resolveEmulator.
import test from 'ava';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';

const readdirSafe = (d: string) => readdir(d).catch(() => [] as string[]);
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/run.ts';
import { XbuildError } from '../src/errors.ts';
import { buildEmulators, parseTargets } from '../src/qemu/build.ts';
import { CONFIGURE_FLAGS, STRIP } from '../src/qemu/build-options.ts';
import { cacheRoot } from '../src/cache-root.ts';
import { resolveEmulator, type BuildRecord } from '../src/qemu/cache.ts';
import { fetchPinnedTarball } from '../src/qemu/download.ts';
import { readEmulatorFacts } from '../src/qemu/elf-check.ts';
import { buildKey, type BuildInputs } from '../src/qemu/key.ts';
import { BuildStepError, runStep } from '../src/qemu/run-step.ts';
import { defaultPatchesDir, parseSeriesFile, readSeries, SERIES_VERSION } from '../src/qemu/series.ts';
import { classifyTarballName, detectSource, origFromDsc } from '../src/qemu/source.ts';
import { PassThrough } from 'node:stream';

function capture() {
  const out = new PassThrough(); const err = new PassThrough();
  let o = ''; let e = '';
  out.on('data', (d) => { o += d; }); err.on('data', (d) => { e += d; });
  return { ctx: { stdout: out, stderr: err, env: {}, isTTY: false }, stdout: () => o, stderr: () => e };
}

const tmp = () => mkdtemp(join(tmpdir(), 'xbuild-qemu-test-'));
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

const baseInputs: BuildInputs = {
  qemuVersion: '10.0.13', sourceSha256: 'a'.repeat(64), seriesHash: 'b'.repeat(64),
  targets: ['arm', 'aarch64'], buildOptions: { configure: [...CONFIGURE_FLAGS], strip: true },
};

test('the cache key changes with every input and ignores target order', (t) => {
  const k = buildKey(baseInputs);
  t.regex(k, /^[0-9a-f]{20}$/);
  t.is(buildKey({ ...baseInputs, targets: ['aarch64', 'arm'] }), k);
  const variants: BuildInputs[] = [
    { ...baseInputs, qemuVersion: '10.2.2' },
    { ...baseInputs, sourceSha256: 'c'.repeat(64) },
    { ...baseInputs, seriesHash: 'd'.repeat(64) },
    { ...baseInputs, targets: ['arm'] },
    { ...baseInputs, buildOptions: { configure: [...CONFIGURE_FLAGS.filter((f) => f !== '--disable-pie'), '--enable-pie'], strip: true } },
    { ...baseInputs, buildOptions: { configure: [...CONFIGURE_FLAGS], strip: false } },
  ];
  const keys = new Set(variants.map(buildKey));
  t.is(keys.size, variants.length);
  t.false(keys.has(k));
});

test('series files: comments, blank lines and -p1 are accepted; other options and paths are refused', (t) => {
  t.deepEqual(parseSeriesFile('# c\n\n0001-a.patch\n0002-b.patch -p1 # why\n'), ['0001-a.patch', '0002-b.patch']);
  t.throws(() => parseSeriesFile('0001-a.patch -p0\n'), { message: /unsupported option/ });
  t.throws(() => parseSeriesFile('../x.patch\n'), { message: /plain file name/ });
});

test('the shipped series: numbered patches in order (0001-0006 first), version matches the marker patch, hash follows content', async (t) => {
  const s = await readSeries();
  const names = s.patches.map((p) => p.name);
  t.deepEqual(names.slice(0, 6), [
    '0001-linux-user-add-execve-option.patch',
    '0002-linux-user-intercept-execve.patch',
    '0003-linux-user-xbuild-marker.patch',
    '0004-linux-user-pread-program-header.patch',
    '0005-log-append-for-execve-children.patch',
    '0006-linux-user-exec-path-qemu-10.2.patch',
  ]);
  // Other lanes append their own numbers (0010-0019, 0020-0029): any count, always ascending.
  for (const n of names) t.regex(n, /^\d{4}-[a-z0-9.-]+\.patch$/);
  t.deepEqual([...names].sort(), names);
  const marker = s.patches[2]!.text;
  t.true(marker.includes(`+#define XBUILD_SERIES "${SERIES_VERSION}"`), 'SERIES_VERSION must equal XBUILD_SERIES in the marker patch');
  t.is((await readSeries()).hash, s.hash);
  const dir = await tmp();
  try {
    await cp(defaultPatchesDir(), dir, { recursive: true });
    const f = join(dir, s.patches[1]!.name);
    await writeFile(f, `${await readFile(f, 'utf8')}\n`);
    t.not((await readSeries(dir)).hash, s.hash);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('source names: upstream tarball, Debian .orig, .dsc', (t) => {
  t.deepEqual(classifyTarballName('qemu-10.2.2.tar.xz'), { kind: 'tarball', version: '10.2.2' });
  t.deepEqual(classifyTarballName('qemu_10.0.13+ds.orig.tar.xz'), { kind: 'debian-orig', version: '10.0.13' });
  t.is(classifyTarballName('linux-6.1.tar.xz'), undefined);
  const dsc = 'Checksums-Sha256:\n ' + 'e'.repeat(64) + ' 40010016 qemu_10.0.13+ds.orig.tar.xz\n ' + 'f'.repeat(64) + ' 156096 qemu_10.0.13+ds-0+deb13u1.debian.tar.xz\n';
  t.is(origFromDsc(dsc), 'qemu_10.0.13+ds.orig.tar.xz');
});

test('detectSource: tarball, .dsc, QEMU tree, unpacked Debian tree next to its .orig, and refusals', async (t) => {
  const dir = await tmp();
  try {
    const orig = join(dir, 'qemu_10.0.13+ds.orig.tar.xz');
    await writeFile(orig, 'not really xz');
    const s1 = await detectSource(orig);
    t.like(s1, { kind: 'debian-orig', version: '10.0.13', sha256: sha('not really xz') });
    await writeFile(join(dir, 'qemu_10.0.13+ds-0+deb13u1.dsc'), `Files:\n ${'0'.repeat(64)} 13 qemu_10.0.13+ds.orig.tar.xz\n`);
    t.like(await detectSource(join(dir, 'qemu_10.0.13+ds-0+deb13u1.dsc')), { kind: 'debian-orig', path: orig });

    const tree = join(dir, 'qemu-10.0.13');
    await mkdir(join(tree, 'linux-user'), { recursive: true });
    await writeFile(join(tree, 'VERSION'), '10.0.13\n');
    await writeFile(join(tree, 'linux-user', 'main.c'), 'int main;');
    const s2 = await detectSource(tree);
    t.like(s2, { kind: 'tree', version: '10.0.13' });
    await writeFile(join(tree, 'linux-user', 'main.c'), 'int main2;');
    t.not((await detectSource(tree)).sha256, s2.sha256, 'tree hash follows content');
    await mkdir(join(tree, 'debian'));
    await writeFile(join(tree, 'debian', 'changelog'), 'qemu (1:10.0.13+ds-0+deb13u1) trixie; urgency=medium\n');
    t.like(await detectSource(tree), { kind: 'debian-orig', path: orig }, 'an unpacked Debian source builds from its pristine .orig');

    await t.throwsAsync(detectSource(join(dir, 'nope')), { message: /no such file/ });
    await t.throwsAsync(detectSource(dir), { message: /not a QEMU source tree/ });
    await writeFile(join(dir, 'qemu.zip'), '');
    await t.throwsAsync(detectSource(join(dir, 'qemu.zip')), { message: /expected a QEMU source directory/ });
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('--targets parsing', (t) => {
  t.deepEqual(parseTargets('arm,aarch64'), ['arm', 'aarch64']);
  t.deepEqual(parseTargets('aarch64, arm,arm'), ['aarch64', 'arm']);
  t.throws(() => parseTargets('x86_64'), { instanceOf: XbuildError, message: /unknown target 'x86_64'/ });
});

test('cacheRoot: XBUILD_CACHE_DIR, then XDG_CACHE_HOME, then HOME/.cache', (t) => {
  t.is(cacheRoot({ XBUILD_CACHE_DIR: '/c/x', XDG_CACHE_HOME: '/x', HOME: '/h' }), '/c/x');
  t.is(cacheRoot({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/xbuild');
  t.is(cacheRoot({ HOME: '/h' }), '/h/.cache/xbuild');
});

test('offline default download (library): one error naming --source, no partial file', async (t) => {
  const dir = await tmp();
  try {
    const err = await t.throwsAsync(fetchPinnedTarball(dir, {
      fetchImpl: async () => { throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } }); },
    }));
    t.true(err instanceof XbuildError);
    t.is((err as XbuildError).code, 'NETWORK');
    t.regex(err!.message, /cannot download QEMU .* \(ENOTFOUND\); pass --source DIR\|TARBALL/);
    t.false(err!.message.includes('\n'));
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a download whose sha256 differs from the pin is refused', async (t) => {
  const dir = await tmp();
  try {
    const pin = { url: 'https://example.invalid/qemu-10.2.2.tar.xz', version: '10.2.2', sha256: sha('good') };
    await t.throwsAsync(fetchPinnedTarball(dir, { pin, fetchImpl: async () => new Response('evil') }), { message: /sha256 .* expected/ });
    await t.throwsAsync(stat(join(dir, 'qemu-10.2.2.tar.xz')));
    t.is(await fetchPinnedTarball(dir, { pin, fetchImpl: async () => new Response('good') }), join(dir, 'qemu-10.2.2.tar.xz'));
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('offline default download (CLI, this machine cannot reach download.qemu.org): exit 2, one line naming --source', async (t) => {
  const dir = await tmp();
  try {
    const c = capture();
    const code = await runCli(['qemu', 'build'], { ...c.ctx, env: { XBUILD_CACHE_DIR: dir, HOME: dir } });
    t.is(code, 2);
    const errLines = c.stderr().split('\n').filter((l) => l.startsWith('xbuild: ') && !l.startsWith('xbuild: fetching'));
    t.is(errLines.length, 1, c.stderr());
    t.regex(errLines[0]!, /cannot download QEMU \S+ from https:\/\/download\.qemu\.org\/qemu-\S+\.tar\.xz .*--source/);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

/** A fake cache entry for a fake source, keyed exactly as buildEmulators keys it. */
async function fakeEntry(root: string, source: string, opts: { builtAt: string; seriesHash?: string; version?: string }) {
  const series = await readSeries();
  const version = opts.version ?? '10.2.2';
  const inputs: BuildInputs = {
    qemuVersion: version, sourceSha256: sha(await readFile(source)), seriesHash: opts.seriesHash ?? series.hash,
    targets: ['aarch64', 'arm'], buildOptions: { configure: [...CONFIGURE_FLAGS], strip: STRIP },
  };
  const key = buildKey(inputs);
  const dir = join(root, 'qemu', key);
  await mkdir(dir, { recursive: true });
  const outputs: BuildRecord['outputs'] = {};
  for (const a of ['arm', 'aarch64']) {
    const f = join(dir, `qemu-${a}-static`);
    await writeFile(f, `#!/bin/sh\necho fake ${a}\n`);
    await chmod(f, 0o755);
    outputs[`qemu-${a}-static`] = { sha256: sha(await readFile(f)), size: 1 };
  }
  const rec: BuildRecord = {
    schema: 1, key, builtAt: opts.builtAt, buildSeconds: 1,
    qemu: { version, source: { kind: 'tarball', path: source, sha256: inputs.sourceSha256 } },
    series: { version: SERIES_VERSION, hash: inputs.seriesHash, patches: [] },
    targets: ['aarch64', 'arm'], buildOptions: inputs.buildOptions, toolchain: {}, outputs,
  };
  await writeFile(join(dir, 'build.json'), JSON.stringify(rec));
  return dir;
}

test('cache hit: a second build of the same inputs runs nothing, says so, and --out copies', async (t) => {
  const root = await tmp();
  try {
    const src = join(root, 'qemu-10.2.2.tar.xz');
    await writeFile(src, 'pretend tarball');
    const dir = await fakeEntry(root, src, { builtAt: '2026-01-01T00:00:00.000Z' });
    const events: string[] = [];
    const r = await buildEmulators({ env: { XBUILD_CACHE_DIR: root }, source: src, targets: ['aarch64', 'arm'], out: join(root, 'out'), onProgress: (e) => { if (e.kind === 'log') events.push(e.message); } });
    t.true(r.cached);
    t.is(r.dir, dir);
    t.deepEqual(events, [`using cached build ${dir}`]);
    t.is(await readFile(join(root, 'out', 'qemu-arm-static'), 'utf8'), '#!/bin/sh\necho fake arm\n');

    const c = capture();
    t.is(await runCli(['qemu', 'build', '--source', src, '--targets', 'arm,aarch64'], { ...c.ctx, env: { XBUILD_CACHE_DIR: root } }), 0, c.stderr());
    t.is(c.stdout().split('\n')[0], `used the cache: qemu-aarch64-static, qemu-arm-static in ${dir}`);
    t.regex(c.stdout(), new RegExp(`\nshim: ${root}/shim/[0-9a-f]{20}/xbuild-shim\n$`), 'qemu build also builds the shim, so wrap compiles nothing');

    // arm alone is another key: a miss, which here fails at unpacking (the
    // tarball is fake) and shows the log's tail and path
    const m = capture();
    t.is(await runCli(['qemu', 'build', '--source', src, '--targets', 'arm'], { ...m.ctx, env: { XBUILD_CACHE_DIR: root } }), 2);
    t.regex(m.stderr(), /--- last \d+ lines of .*\/qemu\/logs\/[0-9a-f]{20}\.log ---\n(.*\n)*tar: /);
    t.regex(m.stderr(), /xbuild: unpacking failed \(exit 2\); log: /);
    t.deepEqual((await readdirSafe(join(root, 'qemu'))).filter((n) => n.startsWith('.tmp-')), [], 'the work directory is removed after a failure');
  } finally { await rm(root, { recursive: true, force: true }); }
});

test('resolveEmulator: --qemu-dir first, then the newest entry of the current series; NO_EMULATOR names the arch', async (t) => {
  const root = await tmp();
  try {
    const env = { XBUILD_CACHE_DIR: root };
    const e1 = await noThrow(t, resolveEmulator('arm', { env }));
    t.true(e1 instanceof XbuildError && e1.code === 'NO_EMULATOR' && /qemu-arm-static \(emulator for arm\)/.test(e1.message) && /xbuild qemu build/.test(e1.hint ?? ''));
    const src1 = join(root, 'qemu-10.2.2.tar.xz'); await writeFile(src1, 'one');
    const src2 = join(root, 'qemu-10.2.3.tar.xz'); await writeFile(src2, 'two');
    const src3 = join(root, 'qemu-10.2.4.tar.xz'); await writeFile(src3, 'three');
    const older = await fakeEntry(root, src1, { builtAt: '2026-01-01T00:00:00.000Z' });
    const newer = await fakeEntry(root, src2, { builtAt: '2026-02-01T00:00:00.000Z', version: '10.2.3' });
    await fakeEntry(root, src3, { builtAt: '2026-03-01T00:00:00.000Z', version: '10.2.4', seriesHash: 'f'.repeat(64) });
    t.is(await resolveEmulator('arm', { env }), join(newer, 'qemu-arm-static'), 'newest of the current series; other series ignored');
    await rm(join(newer, 'qemu-aarch64-static'));
    t.is(await resolveEmulator('aarch64', { env }), join(older, 'qemu-aarch64-static'), 'incomplete entries are skipped');
    const qd = join(root, 'qd'); await mkdir(qd);
    await writeFile(join(qd, 'qemu-aarch64-static'), ''); await chmod(join(qd, 'qemu-aarch64-static'), 0o755);
    t.is(await resolveEmulator('aarch64', { env, qemuDir: qd }), join(qd, 'qemu-aarch64-static'));
    await t.throwsAsync(resolveEmulator('arm', { env, qemuDir: qd }), { message: /no qemu-arm-static \(emulator for arm\) in --qemu-dir/ });
  } finally { await rm(root, { recursive: true, force: true }); }
});

async function noThrow(_t: unknown, p: Promise<unknown>): Promise<unknown> {
  try { await p; return undefined; } catch (e) { return e; }
}

test('a failing build step reports the log path and its last 20 lines', async (t) => {
  const dir = await tmp();
  try {
    const log = join(dir, 'build.log');
    await writeFile(log, '');
    const err = await t.throwsAsync(runStep('configure', 'sh', ['-c', 'for i in $(seq 1 30); do echo line$i; done; exit 3'], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, log, code: 'QEMU_BUILD' }));
    t.true(err instanceof BuildStepError);
    const e = err as BuildStepError;
    t.is(e.code, 'QEMU_BUILD');
    t.regex(e.message, new RegExp(`configure failed \\(exit 3\\); log: ${log}`));
    t.is(e.tail.length, 20);
    t.is(e.tail[0], 'line11'); t.is(e.tail[19], 'line30');
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('ELF header checks: a dynamic host binary is seen as dynamic and unmarked', async (t) => {
  const f = await readEmulatorFacts('/bin/ls');
  t.is(f.machine, 62);
  t.true(f.interp);
  t.true(f.needed > 0);
  t.is(f.linkage, 'dynamic');
  t.is(f.marker, undefined);
});
