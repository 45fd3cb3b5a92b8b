// bench/configure (npm run bench:configure): a real `./configure` of Debian's
// `hello` source in a debootstrapped bookworm tree with build-essential
// (scripts/fixtures/debian-workload-tree.sh, stage installed), timed in one run,
// interleaved per repetition, median of REPS:
//   native           the host's own ./configure of the same source (for scale)
//   stock + binfmt   Debian's STOCK static qemu-user of the same upstream version,
//                    registered under binfmt_misc ONLY inside a new user namespace
//   xbuild + binfmt  xbuild's emulator registered the same way (no -execve)
//   xbuild shim      the real path: cross-build-start in the tree, then the host
//                    kernel runs /bin/sh = the shim, which starts the emulator with
//                    -execve on the original shell (no binfmt_misc at all), with the
//                    emulator's levers on (as cross-build-start runs them), the
//                    translation cache emptied first (cold: what one RUN meets)
//   shim, warm       the same right after it, the cache as that run left it
//   shim, levers off the same with every lever's QEMU_* twin set to off
// and the ratios against stock + binfmt. The host's binfmt_misc is asserted to have
// no ARM handler before and after.
//   XBUILD_BENCH_REPS=3 XBUILD_CONFIGURE_ARCH=armhf npx tsx bench/configure/run.ts
//   XBUILD_BENCH_MODES=stock,shim: only these (keys native, stock, binfmt, shim, shim-warm, shim-off)
//   XBUILD_BENCH_STOCK_VERSION=10.0.13: Debian's stock build of another upstream
//   version (printed as such) when the archive has none of xbuild's version
//   --profile: instead, one run through the shim under host `perf`, samples by
//   category (bench/exec/categories.ts); symbols need an unstripped emulator of the
//   cache's version, series and configure flags: XBUILD_PROFILE_EMULATOR=path
//   --census: instead, one run through the shim with a census emulator
//   (bench/tb-census: built on first use, or XBUILD_CENSUS_EMULATOR=path), then
//   the census replayed against simulated persistent translation caches;
//   XBUILD_CENSUS_KEEP=file keeps the census log
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { copyTree, qemuArchOf, REPO_ROOT, removeTree, runFixtureScript } from '../../test/helpers/arm-root.ts';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { runHost, type RunResult } from '../../test/helpers/guest.ts';
import { BINFMT, CHROOT_WRAPPER, GUEST_ENV, stockQemuPath, type WorkloadArch } from '../../test/helpers/workload.ts';
import { installXbuildLayer } from '../../test/helpers/install-layer.ts';
import { ensureShim } from '../../src/shims/build.ts';
import { cacheRoot } from '../../src/cache-root.ts';
import { EMULATOR_LEVERS, TB_CACHE_DIR } from '../../src/contract/in-image.ts';
import { printCategories, recordCategories } from '../exec/categories.ts';
import { buildCensusEmulator } from '../tb-census/build.ts';
import { runCensus } from '../tb-census/run.ts';
import { loadAverages } from '../load-average.ts';
import { median } from '../median.ts';

const run = promisify(execFile);
const ARCH = (process.env.XBUILD_CONFIGURE_ARCH ?? 'armhf') as WorkloadArch;
const REPS = Number(process.env.XBUILD_BENCH_REPS ?? 3);
const USERNS_ROOT = join(REPO_ROOT, 'bench', 'workloads', 'userns-root.sh');
// a fresh copy of the source each time; configure's own output to a log; "configured" on success
const SCRIPT = 'rm -rf /tmp/h && cp -a /root/hello /tmp/h && cd /tmp/h && { ./configure >/tmp/h.log 2>&1 || { tail -n 20 /tmp/h.log; exit 1; }; } && echo configured';
const STOCK = 'stock QEMU + binfmt_misc (userns)';
const SHIM_ON = 'xbuild through the shim (levers on)';
const SHIM_WARM = 'xbuild shim, translation cache warm';
const SHIM_OFF = 'xbuild shim, levers off (QEMU_*=off)';

function binfmtRun(root: string, emulator: string, script: string): Promise<RunResult> {
  const [magic, mask] = BINFMT[ARCH];
  const register = `:xbuild-cfg-${ARCH}:M::${magic}:${mask}:${emulator}:OPF`;
  const wrapper = `set -e; mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; printf '%s' "$1" > /proc/sys/fs/binfmt_misc/register; shift; ${CHROOT_WRAPPER}`;
  return runHost(['bash', USERNS_ROOT, '/bin/sh', '-c', wrapper, 'sh', register, root, '/bin/sh', '-c', script], { env: GUEST_ENV, timeoutMs: 3_600_000 });
}

function shimRun(root: string, argv: string[], env: Record<string, string> = {}, prefix: string[] = []): Promise<RunResult> {
  return runHost([...prefix, 'unshare', '--mount', '--pid', '--fork', '--', '/bin/sh', '-c', CHROOT_WRAPPER, 'sh', root, ...argv], { env: { ...GUEST_ENV, ...env }, timeoutMs: 3_600_000 });
}

/** cross-build-start, the script through the shim (with `env`), cross-build-end. */
async function shimScript(root: string, env: Record<string, string>, prefix: string[] = []): Promise<RunResult> {
  const on = await shimRun(root, ['/usr/bin/cross-build-start']);
  if (on.code !== 0) return on;
  try { return await shimRun(root, ['/bin/sh', '-c', SCRIPT], env, prefix); } finally { await shimRun(root, ['/usr/bin/cross-build-end']); }
}

/** --profile: one configure through the shim under perf, with symbols from XBUILD_PROFILE_EMULATOR. */
async function profile(root: string, emulator: string): Promise<void> {
  const load0 = loadAverages();
  const t0 = performance.now();
  const shares = await recordCategories((prefix) => shimScript(root, {}, prefix), { root, hz: 999 });
  const s = (performance.now() - t0) / 1000;
  if (typeof shares === 'string') throw new Error(shares);
  console.log(`./configure of Debian's hello (bookworm ${ARCH} tree) through the shim under perf (999 Hz): ${s.toFixed(1)} s, load ${load0} at start, ${loadAverages()} at end`);
  console.log(`emulator: ${emulator}${process.env.XBUILD_PROFILE_EMULATOR ? '' : ' (stripped: emulator-internal categories need XBUILD_PROFILE_EMULATOR)'}\n`);
  printCategories(shares);
}

async function main(): Promise<void> {
  await assertNoArmBinfmt();
  if (process.argv.includes('--census')) {
    const emulator = process.env.XBUILD_CENSUS_EMULATOR || await buildCensusEmulator(qemuArchOf(ARCH));
    return withTree((root) => runCensus(`./configure of Debian's hello (bookworm ${ARCH} tree) through the shim, census emulator ${emulator}`, root, (prefix, env) => shimScript(root, env, prefix)), emulator);
  }
  if (process.argv.includes('--profile')) {
    const emulator = process.env.XBUILD_PROFILE_EMULATOR || await findEmulator(qemuArchOf(ARCH));
    return withTree((root) => profile(root, emulator), emulator);
  }
  const q = qemuArchOf(ARCH);
  const xbuildEmu = await findEmulator(q);
  const version = /version (\d+\.\d+\.\d+)/.exec(execFileSync(xbuildEmu, ['-version'], { encoding: 'utf8' }))![1]!;
  const want = process.env.XBUILD_BENCH_STOCK_VERSION || version;
  const stockEmu = join(process.env.XBUILD_STOCK_QEMU_DIR || await stockQemuPath(want), `qemu-${q}-static`);
  const stockVersion = /version (\d+\.\d+\.\d+)/.exec(execFileSync(stockEmu, ['-version'], { encoding: 'utf8' }))?.[1];
  if (stockVersion !== want) throw new Error(`stock ${stockEmu} is QEMU ${stockVersion}, wanted ${want}: not comparable`);
  await withTree((root) => compare(root, q, xbuildEmu, version, stockEmu, stockVersion), xbuildEmu);
}

/** A private copy of the cached installed workload tree, with xbuild's layer (this `emulator`, the shim) in it, for `fn`; removed after. */
async function withTree(fn: (root: string) => Promise<void>, emulator: string): Promise<void> {
  const cached = await runFixtureScript('debian-workload-tree.sh', [ARCH, '--if-cached', '--stage', 'installed']).catch((e: Error) => {
    throw new Error(`no cached installed workload tree for ${ARCH} (build it with scripts/fixtures/debian-workload-tree.sh ${ARCH} --print-path): ${e.message}`);
  });
  const root = await copyTree(cached.trim(), `xbuild-cfg-${ARCH}-`);
  try {
    await installXbuildLayer(root, { arch: qemuArchOf(ARCH), emulatorPath: emulator, shimPath: await ensureShim({ cacheRoot: cacheRoot(process.env) }) });
    await fn(root);
  } finally {
    await removeTree(root);
  }
}

async function compare(root: string, q: ReturnType<typeof qemuArchOf>, xbuildEmu: string, version: string, stockEmu: string, stockVersion: string | undefined): Promise<void> {
  const hostSrc = await mkdtemp(join(tmpdir(), 'xb-cfg-native-'));
  try {
    const emuInGuest = `/usr/bin/qemu-${q}-static`;
    await run('cp', ['-a', join(root, 'root/hello'), join(hostSrc, 'hello')]);
    const all: Array<[string, string, () => Promise<RunResult>]> = [
      ['native', 'native (host ./configure)', () => runHost(['/bin/sh', '-c', `rm -rf ${hostSrc}/h && cp -a ${hostSrc}/hello ${hostSrc}/h && cd ${hostSrc}/h && ./configure >/dev/null && echo configured`], { env: GUEST_ENV, timeoutMs: 600_000 })],
      ['stock', STOCK, () => binfmtRun(root, stockEmu, SCRIPT)],
      ['binfmt', 'xbuild emulator + binfmt_misc (userns)', () => binfmtRun(root, join(root, emuInGuest), SCRIPT)],
      ['shim', SHIM_ON, async () => { await rm(join(root, TB_CACHE_DIR), { recursive: true, force: true }); return shimScript(root, {}); }],
      ['shim-warm', SHIM_WARM, () => shimScript(root, {})],
      ['shim-off', SHIM_OFF, () => shimScript(root, Object.fromEntries(EMULATOR_LEVERS.map((l) => [l.env, 'off'])))],
    ];
    const keys = (process.env.XBUILD_BENCH_MODES ?? 'native,stock,binfmt,shim,shim-warm,shim-off').split(',');
    const modes = all.filter(([k]) => keys.includes(k)).map(([, name, fn]): [string, () => Promise<RunResult>] => [name, fn]);
    const times = new Map<string, number[]>(modes.map(([m]) => [m, []]));
    const load0 = loadAverages();
    for (let r = 0; r < REPS; r++) {
      for (const [name, fn] of modes) {
        const t0 = performance.now();
        const res = await fn();
        const s = (performance.now() - t0) / 1000;
        if (res.code !== 0 || !res.stdout.includes('configured')) throw new Error(`${name}: exit ${res.code ?? res.signal}: ${`${res.stdout}\n${res.stderr}`.trim().slice(-1500)}`);
        times.get(name)!.push(s);
        console.error(`[${r + 1}/${REPS}] ${name}: ${s.toFixed(1)} s (load ${loadAverages()})`);
      }
    }
    await assertNoArmBinfmt();
    const stock = times.has(STOCK) ? median(times.get(STOCK)!) : NaN;
    console.log(`./configure of Debian's hello (bookworm ${ARCH} tree), median of ${REPS} interleaved runs; QEMU ${version}`);
    console.log(`stock: ${stockEmu} (QEMU ${stockVersion}${stockVersion === version ? '' : `, NOT xbuild's ${version}: XBUILD_BENCH_STOCK_VERSION`})\nxbuild: ${xbuildEmu}\nload average ${load0} at start, ${loadAverages()} at end; host binfmt_misc: no ARM handler (before and after)\n`);
    console.log(`${'mode'.padEnd(42)}${'median s'.padStart(10)}${'x stock'.padStart(10)}   runs`);
    for (const [name] of modes) {
      const m = median(times.get(name)!);
      console.log(`${name.padEnd(42)}${m.toFixed(1).padStart(10)}${(m / stock).toFixed(2).padStart(10)}   ${times.get(name)!.map((x) => x.toFixed(1)).join(' ')}`);
    }
    const shimOn = times.has(SHIM_ON) ? median(times.get(SHIM_ON)!) : NaN, shimOff = times.has(SHIM_OFF) ? median(times.get(SHIM_OFF)!) : NaN;
    if (!Number.isNaN(shimOn / shimOff)) console.log(`\nlevers (${EMULATOR_LEVERS.map((l) => l.flag).join(' ')}) on vs off, through the shim, same run: ${(shimOn / shimOff).toFixed(3)}x`);
  } finally {
    await rm(hostSrc, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
