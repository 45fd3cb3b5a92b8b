// Cost of one emulated exec: xbuild's -execve interception (start-up levers
// off, each alone, all on), through the shim of cross-build-start (levers on
// and off), Debian's stock emulator and xbuild's under binfmt_misc INSIDE A
// USER NAMESPACE (never the host's), natively for scale, optionally PRoot -q
// (XBUILD_BENCH_PROOT=1), on a Debian armhf tree. Prints a table and ratios
// from one run (bench/exec/modes.ts has the modes).
//
//   npx tsx bench/exec/run.ts            (npm run bench:exec)
//   npx tsx bench/exec/run.ts --profile  (where one exec's time goes: bench/exec/profile.ts)
//   npx tsx bench/exec/run.ts --census   (what a persistent translation cache would skip: bench/tb-census)
//   XBUILD_BENCH_EXECS=100 XBUILD_BENCH_REPS=5 npx tsx bench/exec/run.ts
//   XBUILD_BENCH_STOCK_VERSION=10.0.13   compare with Debian's stock build of another
//                                        upstream version (printed as such) when the
//                                        archive has none of xbuild's version
//
// Workload: a guest dash loop running N iterations, minus the same loop with 0
// iterations (startup), divided by N. Modes are interleaved per repetition and
// the median is reported.
import { performance } from 'node:perf_hooks';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { prepareGuest, runHost, type Guest, type RunResult } from '../../test/helpers/guest.ts';
import { installXbuildLayer } from '../../test/helpers/install-layer.ts';
import { ensureShim } from '../../src/shims/build.ts';
import { cacheRoot } from '../../src/cache-root.ts';
import { EMULATOR_LEVERS } from '../../src/contract/in-image.ts';
import { ALL_LEVERS, BINFMT_WRAPPER, ENV, EXECVE_OFF, leverMode, modes, SHIM_OFF, SHIM_ON, STOCK_BINFMT, XBUILD_BINFMT, type Mode } from './modes.ts';
import { removeTree } from '../../test/helpers/arm-root.ts';
import { censusExec, profileExec } from './profile.ts';
import { loadAverages } from '../load-average.ts';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { stockQemuPath } from '../../test/helpers/workload.ts';
import { median } from '../median.ts';

/** Debian's stock static qemu-arm of the same upstream version as xbuild's, or of XBUILD_BENCH_STOCK_VERSION (scripts/fixtures/stock-qemu.sh). */
async function stockEmulatorFor(xbuildEmulator: string): Promise<{ path?: string; note: string }> {
  const version = /version (\d+\.\d+\.\d+)/.exec(execFileSync(xbuildEmulator, ['-version'], { encoding: 'utf8' }))?.[1];
  if (!version) return { note: `cannot tell the QEMU version of ${xbuildEmulator}` };
  const want = process.env.XBUILD_BENCH_STOCK_VERSION || version;
  try {
    const path = join(process.env.XBUILD_STOCK_QEMU_DIR || await stockQemuPath(want), 'qemu-arm-static');
    const line = execFileSync(path, ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
    if (!line.includes(`version ${want}`)) return { note: `stock ${path} is not QEMU ${want}: ${line}` };
    return { path, note: want === version ? line : `${line} -- NOT xbuild's upstream version ${version} (XBUILD_BENCH_STOCK_VERSION)` };
  } catch (err) {
    return { note: `no stock QEMU ${want}: ${(err as Error).message.split('\n')[0]}` };
  }
}

const N = Number(process.env.XBUILD_BENCH_EXECS ?? 60);
const REPS = Number(process.env.XBUILD_BENCH_REPS ?? 3);

// Each iteration: the guest shell starts these. The native mode runs the same
// text with the host's programs (the static ARM program's stand-in is the tree's
// static x86_64 busybox). `sh -c` starts a shell: through the shim, the kernel
// runs the shim for it.
const PROGRAMS: Record<string, string> = {
  'dynamic /bin/true': '/bin/true',
  'mix: true; sh -c true; expr': '/bin/true; sh -c /bin/true; expr 1 + 1 >/dev/null',
};

const loop = (n: number, prog: string) => `i=0; while [ $i -lt ${n} ]; do ${prog}; i=$((i+1)); done; echo done`;

async function probeUsernsBinfmt(g: Guest, hostEmulator: string): Promise<string | undefined> {
  const r = await runHost(['unshare', '--user', '--map-root-user', '--mount', '--fork', '--', '/bin/sh', '-c', BINFMT_WRAPPER, 'sh', hostEmulator, g.root, 'uname -m'], { env: ENV });
  if (r.code === 0 && r.stdout === 'armv7l\n') return undefined;
  return `user-namespace binfmt_misc unavailable: ${r.command} -> exit ${r.code ?? r.signal}: ${r.stderr.trim() || r.stdout.trim()}`;
}

async function timed(m: Mode, script: string): Promise<number> {
  const t0 = performance.now();
  const r = await m.run(script);
  const ms = performance.now() - t0;
  if (r.code !== 0 || !r.stdout.endsWith('done\n')) {
    throw new Error(`${m.name} failed: ${r.command}\nexit ${r.code ?? r.signal}\n${r.stderr.slice(0, 2000)}`);
  }
  return ms;
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(3)}x`;

async function main(): Promise<void> {
  await assertNoArmBinfmt();
  const hostEmulator = await findEmulator('arm');
  const g = await prepareGuest('armhf', 'debian-dash', hostEmulator);
  const s = await prepareGuest('armhf', 'debian-dash', hostEmulator);
  try {
    await installXbuildLayer(s.root, { arch: 'arm', emulatorPath: hostEmulator, shimPath: await ensureShim({ cacheRoot: cacheRoot(process.env) }) });
    const started = await runHost(['chroot', s.root, '/usr/bin/cross-build-start'], { env: ENV });
    if (started.code !== 0) throw new Error(`cross-build-start in ${s.root}: exit ${started.code}: ${started.stderr}`);
    const binfmtProblem = await probeUsernsBinfmt(g, hostEmulator);
    if (binfmtProblem) console.log(`NOTE: ${binfmtProblem}`);
    const stock = await stockEmulatorFor(hostEmulator);
    if (!stock.path) console.log(`NOTE: ${stock.note}`);
    const ms = modes({ g, shimRoot: s.root, hostEmulator, binfmtOk: !binfmtProblem, stockEmulator: stock.path, proot: process.env.XBUILD_BENCH_PROOT === '1' });
    console.log(`emulator: ${hostEmulator} (${execFileSync(hostEmulator, ['-version'], { encoding: 'utf8' }).split('\n')[0]})${stock.path ? `\nstock:    ${stock.path} (${stock.note})` : ''}\nload average at start: ${loadAverages()}`);
    console.log(`workload: guest dash loop of N=${N} iterations, ${REPS} repetitions, modes interleaved, median; per iteration = (T(N) - T(0)) / N\n`);
    const results: Record<string, Record<string, number>> = {};
    for (const [label, prog] of Object.entries(PROGRAMS)) {
      const samples = new Map<string, { full: number[]; empty: number[] }>();
      for (const m of ms) samples.set(m.name, { full: [], empty: [] });
      for (let rep = 0; rep < REPS; rep++) {
        for (const m of ms) {
          samples.get(m.name)!.empty.push(await timed(m, loop(0, prog)));
          samples.get(m.name)!.full.push(await timed(m, loop(N, prog)));
        }
      }
      results[label] = {};
      for (const m of ms) {
        const x = samples.get(m.name)!;
        results[label]![m.name] = (median(x.full) - median(x.empty)) / N;
      }
    }
    const names = ms.map((m) => m.name);
    const ref = names.includes(STOCK_BINFMT) ? STOCK_BINFMT : names.includes(XBUILD_BINFMT) ? XBUILD_BINFMT : EXECVE_OFF;
    console.log(`load average at end: ${loadAverages()}`);
    console.log([`mode (ms per iteration; x vs ${ref})`.padEnd(44), ...Object.keys(PROGRAMS).map((p) => p.padEnd(32))].join(''));
    for (const m of names) {
      const cells = Object.keys(PROGRAMS).map((p) => `${results[p]![m]!.toFixed(2)}  (${ratio(results[p]![m]!, results[p]![ref]!)})`.padEnd(32));
      console.log([m.padEnd(44), ...cells].join(''));
    }
    console.log('\nlevers, each against the same path with the levers off (same run):');
    const candidates: Array<[string, string]> = [...EMULATOR_LEVERS.map((l): [string, string] => [leverMode(l.flag), EXECVE_OFF]), [ALL_LEVERS, EXECVE_OFF], [SHIM_ON, SHIM_OFF]];
    const pairs = candidates.filter(([on]) => names.includes(on));
    for (const [on, off] of pairs) {
      console.log(`  ${on.padEnd(40)} vs ${off.padEnd(38)} ${Object.keys(PROGRAMS).map((p) => `${p}: ${ratio(results[p]![on]!, results[p]![off]!)}`).join('   ')}`);
    }
  } finally {
    await removeTree(g.root);
    await removeTree(s.root);
  }
  await assertNoArmBinfmt(); // again after the run: nothing may have registered a handler
  console.log('host binfmt_misc: no ARM handler (checked after the run)');
}

(process.argv.includes('--profile') ? profileExec() : process.argv.includes('--census') ? censusExec() : main()).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
