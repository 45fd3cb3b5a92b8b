// bench/exec/profile.ts (npm run bench:exec -- --profile): where one emulated
// exec's time goes. Two views from one run, on a Debian armhf tree:
//
// 1. Stages by difference (median per exec of a guest dash loop of N execs minus
//    the same loop with 0, under xbuild's emulator with -execve):
//      host   = a static x86_64 program (busybox true): the emulated dash's fork,
//               the interception, one kernel exec of a small host program;
//      tiny   = an ARM program of two instructions (exit syscall), generated here
//               with arm-linux-gnueabihf-gcc -nostdlib: + kernel exec of the
//               15 MB static emulator and QEMU's start-up (tiny - host);
//      static = a static glibc ARM program (exitsig-static exit 0): + libc start-up
//               translated and run (static - tiny);
//      dynamic= Debian's /bin/true: + ld.so, mapping and relocating libc, and
//               their start-up translated and run (dynamic - tiny).
// 2. With host `perf` (when it records on this kernel): samples of the dynamic loop
//    by category -- kernel (exec, mmap, page faults, fork), translation (TCG front
//    and back end), translated guest code (perf's [JIT] maps = guest execution),
//    TB lookup and the execution loop, QEMU start-up/other, libc (malloc, ...).
//    Symbols need an unstripped emulator: XBUILD_PROFILE_EMULATOR=path (same
//    version and configure flags as the cache's; e.g. a build tree's qemu-arm).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, copyFile, chmod } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { GUEST_PATH, prepareGuest, runHost } from '../../test/helpers/guest.ts';
import { removeTree } from '../../test/helpers/arm-root.ts';
import { printCategories, recordCategories } from './categories.ts';
import { buildCensusEmulator } from '../tb-census/build.ts';
import { runCensus } from '../tb-census/run.ts';
import { median } from '../median.ts';

const run = promisify(execFile);
const N = Number(process.env.XBUILD_BENCH_EXECS ?? 100);
const REPS = Number(process.env.XBUILD_BENCH_REPS ?? 5);
const ENV = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C' };
const STAGES: Array<[string, string]> = [
  ['host', '/opt/host/busybox true'],
  ['tiny', '/opt/xb/tiny-exit'],
  ['static', '/opt/xb/exitsig-static exit 0'],
  ['dynamic', '/bin/true'],
];
const loop = (n: number, prog: string) => `i=0; while [ $i -lt ${n} ]; do ${prog}; i=$((i+1)); done; echo done`;

async function tinyProgram(out: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'xb-tiny-'));
  try {
    await writeFile(join(dir, 't.c'), 'void _start(void) { __asm__ volatile("mov r0, #0\\n mov r7, #1\\n svc #0"); }\n');
    await run('arm-linux-gnueabihf-gcc', ['-nostdlib', '-static', '-O2', '-marm', '-o', out, join(dir, 't.c')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function profileExec(): Promise<void> {
  const emulator = await findEmulator('arm');
  const g = await prepareGuest('armhf', 'debian-dash', emulator);
  try {
    await tinyProgram(join(g.root, 'opt/xb/tiny-exit'));
    const sh = (s: string, emu = g.emulator) => ['chroot', g.root, emu, '-execve', '/bin/sh', '-c', s];
    const timed = async (s: string) => {
      const t0 = performance.now();
      const r = await runHost(sh(s), { env: ENV, timeoutMs: 600_000 });
      if (r.code !== 0 || !r.stdout.endsWith('done\n')) throw new Error(`${r.command}: exit ${r.code ?? r.signal}: ${r.stderr.slice(0, 500)}`);
      return performance.now() - t0;
    };
    const load0 = loadavg()[0]!;
    const per: Record<string, number> = {};
    const samples: Record<string, { full: number[]; empty: number[] }> = {};
    for (const [k] of STAGES) samples[k] = { full: [], empty: [] };
    for (let r = 0; r < REPS; r++) {
      for (const [k, p] of STAGES) { samples[k]!.empty.push(await timed(loop(0, p))); samples[k]!.full.push(await timed(loop(N, p))); }
    }
    for (const [k] of STAGES) per[k] = (median(samples[k]!.full) - median(samples[k]!.empty)) / N;
    console.log(`emulator: ${emulator}`);
    console.log(`per exec, median of ${REPS}, loops of N=${N} minus N=0; load average ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`);
    const row = (a: string, b: string, c: string) => console.log(`${a.padEnd(58)}${b.padStart(10)}${c.padStart(10)}`);
    row('stage', 'ms/exec', 'share');
    const dyn = per.dynamic!;
    const lines: Array<[string, number]> = [
      ['dash fork + interception + kernel exec of a host program', per.host!],
      ['kernel exec of the emulator + QEMU start-up (tiny - host)', per.tiny! - per.host!],
      ['ld.so + libc: loading, translation, execution (dyn - tiny)', dyn - per.tiny!],
    ];
    for (const [label, v] of lines) row(label, v.toFixed(2), `${((v / dyn) * 100).toFixed(0)}%`);
    row('= dynamic /bin/true', dyn.toFixed(2), '100%');
    row('(static glibc program, for scale)', per.static!.toFixed(2), `${((per.static! / dyn) * 100).toFixed(0)}%`);
    await perfCategories(g.root, sh);
  } finally {
    await removeTree(g.root);
  }
}

/** --census: the /bin/true loop under a census emulator (bench/tb-census), then the replay. */
export async function censusExec(): Promise<void> {
  const emulator = process.env.XBUILD_CENSUS_EMULATOR || await buildCensusEmulator('arm');
  const g = await prepareGuest('armhf', 'debian-dash', emulator);
  try {
    const emu = '/usr/bin/qemu-arm-census';
    await copyFile(emulator, join(g.root, emu));
    await chmod(join(g.root, emu), 0o755);
    await runCensus(`guest dash loop of ${N} dynamic /bin/true, census emulator ${emulator} with -execve`, g.root,
      (prefix, env) => runHost([...prefix, 'chroot', g.root, emu, '-execve', '/bin/sh', '-c', loop(N, '/bin/true')], { env: { ...ENV, ...env }, timeoutMs: 600_000 }));
  } finally {
    await removeTree(g.root);
  }
}

async function perfCategories(root: string, sh: (s: string, emu?: string) => string[]): Promise<void> {
  const dbg = process.env.XBUILD_PROFILE_EMULATOR;
  let emu: string | undefined;
  if (dbg) { emu = '/usr/bin/qemu-arm-profile'; await copyFile(dbg, join(root, emu)); await chmod(join(root, emu), 0o755); }
  const shares = await recordCategories((prefix) => runHost([...prefix, ...sh(loop(N, '/bin/true'), emu)], { env: ENV, timeoutMs: 600_000 }), { root });
  if (typeof shares === 'string') { console.log(`\n${shares}`); return; }
  console.log(`\nperf samples of the dynamic /bin/true loop (${dbg ? `symbols from ${dbg}` : 'stripped emulator: emulator-internal categories need XBUILD_PROFILE_EMULATOR'}):`);
  printCategories(shares);
}
