// Makes the gcc profile the emulators are compiled with (src/qemu/pgo.ts): builds
// instrumented emulators with `xbuild qemu build`'s own code (into its own cache
// root, so nothing resolving xbuild's real emulators can pick them up), runs
// patches/pgo/train.sh through cross-build-start in copies of the armhf and arm64
// workload trees (3 runs each: the first with an empty translation cache), and
// writes patches/pgo/profile.tar.xz + profile.json. Not a benchmark: run it when
// the series or the pinned QEMU changes (a stale profile is not used, and the
// build says so).
//   npm run pgo:train        (root; the workload trees cached: scripts/fixtures/debian-workload-tree.sh)
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cacheRoot } from '../../src/cache-root.ts';
import { readBuildRecord } from '../../src/qemu/cache.ts';
import { buildEmulators } from '../../src/qemu/build.ts';
import { CONFIGURE_FLAGS } from '../../src/qemu/build-options.ts';
import { PROFILE_ARCHIVE, PROFILE_DIR, PROFILE_MANIFEST, TRAINING_SCRIPT, type ProfileManifest } from '../../src/qemu/pgo.ts';
import { defaultPatchesDir, readSeries } from '../../src/qemu/series.ts';
import { QEMU_ARCHES, type QemuArch } from '../../src/oci/platform.ts';
import { TB_CACHE_DIR } from '../../src/contract/in-image.ts';
import { ensureShim } from '../../src/shims/build.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { copyTree, removeTree, runFixtureScript } from '../../test/helpers/arm-root.ts';
import { runHost } from '../../test/helpers/guest.ts';
import { CHROOT_WRAPPER, GUEST_ENV } from '../../test/helpers/workload.ts';
import { installXbuildLayer } from '../../test/helpers/install-layer.ts';

const RUNS = 3;
const TREES: [QemuArch, string][] = [['arm', 'armhf'], ['aarch64', 'arm64']];
/** Where the training's counters go, inside each tree. */
const GUEST_PROFILE_DIR = '/xbuild-pgo';

const shimRun = (root: string, argv: string[], env: Record<string, string> = {}) =>
  runHost(['unshare', '--mount', '--pid', '--fork', '--', '/bin/sh', '-c', CHROOT_WRAPPER, 'sh', root, ...argv], { env: { ...GUEST_ENV, ...env }, timeoutMs: 3_600_000 });

const patches = defaultPatchesDir();
const series = await readSeries(patches);
const current = await readBuildRecord(dirname(await findEmulator('arm')));
if (!current) throw new Error('the current emulators have no build record: build them first (scripts/build-emulators.sh)');
const env = { ...process.env, XBUILD_CACHE_DIR: join(cacheRoot(process.env), 'pgo-train') };
const built = await buildEmulators({
  env, source: current.qemu.source.path, targets: [...QEMU_ARCHES], patchesDir: patches, instrument: true, profile: false,
  onProgress: (p) => { if (p.kind === 'step') console.error(p.message); },
});
const use = built.record.profile;
if (!use || !('instrumented' in use)) throw new Error(`${built.dir}: not an instrumented build`);
// gcda files are written under GCOV_PREFIX + the object dir of the (removed) build tree: strip that dir.
const strip = String(use.objectDir.split('/').filter(Boolean).length);
const script = await readFile(join(patches, PROFILE_DIR, TRAINING_SCRIPT));
const shim = await ensureShim({ cacheRoot: cacheRoot(process.env) });
const staging = await mkdtemp(join(tmpdir(), 'xbuild-pgo-'));
const trained: ProfileManifest['trained'] = [];
try {
  for (const [arch, debArch] of TREES) {
    const cached = (await runFixtureScript('debian-workload-tree.sh', [debArch, '--if-cached', '--stage', 'installed']).catch(() => '')).trim();
    if (!cached) throw new Error(`no cached ${debArch} workload tree: bash scripts/fixtures/debian-workload-tree.sh ${debArch} --print-path`);
    const root = await copyTree(cached, 'xbuild-pgo-tree-');
    try {
      await installXbuildLayer(root, { arch, emulatorPath: built.emulators[arch]!, shimPath: shim });
      await rm(join(root, TB_CACHE_DIR), { recursive: true, force: true });
      await writeFile(join(root, 'root', TRAINING_SCRIPT), script);
      // counters of the trees trained before: libgcov adds to what it finds
      await cp(staging, join(root, GUEST_PROFILE_DIR), { recursive: true });
      await shimRun(root, ['/usr/bin/cross-build-start']);
      const seconds: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const t0 = Date.now();
        const res = await shimRun(root, ['/bin/sh', `/root/${TRAINING_SCRIPT}`], { GCOV_PREFIX: GUEST_PROFILE_DIR, GCOV_PREFIX_STRIP: strip });
        if (res.code !== 0 || !res.stdout.includes('trained')) throw new Error(`training on ${debArch}, run ${r + 1}: exit ${res.code}\n${res.stdout}\n${res.stderr}`);
        seconds.push(Math.round((Date.now() - t0) / 100) / 10);
        console.error(`${debArch} run ${r + 1}: ${seconds.at(-1)} s`);
      }
      await shimRun(root, ['/usr/bin/cross-build-end']);
      await rm(staging, { recursive: true, force: true });
      await cp(join(root, GUEST_PROFILE_DIR), staging, { recursive: true });
      trained.push({ arch, tree: cached.slice(cached.lastIndexOf('/') + 1), runs: RUNS, seconds });
    } finally {
      await removeTree(root);
    }
  }
  const out = join(patches, PROFILE_DIR);
  await mkdir(out, { recursive: true });
  const tmp = join(out, `.${PROFILE_ARCHIVE}.tmp`);
  // deterministic archive: sorted names, no times or owners
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cJf', tmp, '-C', staging, '.']);
  const files = execFileSync('tar', ['-tJf', tmp], { encoding: 'utf8' }).split('\n').filter((l) => l.endsWith('.gcda')).length;
  const manifest: ProfileManifest = {
    schema: 1, qemuVersion: built.record.qemu.version, sourceSha256: built.record.qemu.source.sha256, seriesHash: series.hash,
    configure: [...CONFIGURE_FLAGS], compiler: built.record.toolchain.cc!, targets: built.record.targets, trained,
    trainingScriptSha256: createHash('sha256').update(script).digest('hex'),
    archiveSha256: createHash('sha256').update(await readFile(tmp)).digest('hex'), files, madeAt: new Date().toISOString(),
  };
  await rename(tmp, join(out, PROFILE_ARCHIVE));
  await writeFile(join(out, `.${PROFILE_MANIFEST}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(join(out, `.${PROFILE_MANIFEST}.tmp`), join(out, PROFILE_MANIFEST));
  console.log(`${join(out, PROFILE_ARCHIVE)}: ${files} .gcda files, trained on ${trained.map((t) => t.arch).join(', ')}`);
} finally {
  await rm(staging, { recursive: true, force: true });
}
