// Cost of one emulated exec: xbuild's -execve interception vs the same emulator
// registered under binfmt_misc INSIDE A USER NAMESPACE (never the host's) vs
// PRoot -q, on a Debian armhf tree. Prints a table and ratios from one run.
//
//   npx tsx bench/exec/run.ts            (npm run bench:exec)
//   npx tsx bench/exec/run.ts --profile  (where one exec's time goes: bench/exec/profile.ts)
//   XBUILD_BENCH_EXECS=300 XBUILD_BENCH_REPS=5 npx tsx bench/exec/run.ts
//
// Workload: a guest dash loop running N execs of a program, minus the same loop
// with 0 iterations (startup), divided by N. Modes are interleaved per repetition
// and the median is reported. Target (issue 2): interception within 5% of binfmt.
import { performance } from 'node:perf_hooks';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { GUEST_PATH, prepareGuest, runHost, type Guest, type RunResult } from '../../test/helpers/guest.ts';
import { removeTree } from '../../test/helpers/arm-root.ts';
import { profileExec } from './profile.ts';
import { loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { stockQemuPath } from '../../test/helpers/workload.ts';

/** Debian's stock static qemu-arm of the same upstream version as xbuild's (scripts/fixtures/stock-qemu.sh). */
async function stockEmulatorFor(xbuildEmulator: string): Promise<{ path?: string; note: string }> {
  const version = /version (\d+\.\d+\.\d+)/.exec(execFileSync(xbuildEmulator, ['-version'], { encoding: 'utf8' }))?.[1];
  if (!version) return { note: `cannot tell the QEMU version of ${xbuildEmulator}` };
  try {
    const path = join(process.env.XBUILD_STOCK_QEMU_DIR || await stockQemuPath(version), 'qemu-arm-static');
    const line = execFileSync(path, ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
    if (!line.includes(`version ${version}`)) return { note: `stock ${path} is not QEMU ${version}: ${line}` };
    return { path, note: line };
  } catch (err) {
    return { note: `no stock QEMU ${version}: ${(err as Error).message.split('\n')[0]}` };
  }
}

const N = Number(process.env.XBUILD_BENCH_EXECS ?? 100);
const REPS = Number(process.env.XBUILD_BENCH_REPS ?? 3);
const ENV = { PATH: GUEST_PATH, HOME: '/root', LC_ALL: 'C' };
// binfmt_misc entry for ELF32 little-endian EM_ARM executables (as Debian's qemu-user-static registers it)
const ARM_MAGIC = String.raw`\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00`;
const ARM_MASK = String.raw`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`;

const PROGRAMS: Record<string, string> = {
  'dynamic /bin/true': '/bin/true',
  'static exitsig exit 0': '/opt/xb/exitsig-static exit 0',
};

const loop = (n: number, prog: string) => `i=0; while [ $i -lt ${n} ]; do ${prog}; i=$((i+1)); done; echo done`;

type Mode = { name: string; run: (script: string) => Promise<RunResult> };

function modes(g: Guest, hostEmulator: string, binfmtOk: boolean, stockEmulator: string | undefined): Mode[] {
  const list: Mode[] = [
    // the same loop run by the host's own shell and programs, for scale
    // (the static ARM program's stand-in is the tree's static x86_64 busybox)
    { name: 'native (host)', run: (s) => runHost(['/bin/sh', '-c', s.replace('/opt/xb/exitsig-static exit 0', `${g.root}/opt/host/busybox true`)], { env: ENV, timeoutMs: 600_000 }) },
    {
      name: 'xbuild -execve',
      run: (s) => runHost(['chroot', g.root, g.emulator, '-execve', '/bin/sh', '-c', s], { env: ENV, timeoutMs: 600_000 }),
    },
  ];
  if (binfmtOk && stockEmulator) {
    list.push({
      name: 'stock QEMU + binfmt (userns)',
      run: (s) => runHost(['unshare', '--user', '--map-root-user', '--mount', '--fork', '--', '/bin/sh', '-c', BINFMT_WRAPPER, 'sh', stockEmulator, g.root, s], { env: ENV, timeoutMs: 600_000 }),
    });
  }
  if (binfmtOk) {
    list.push({
      name: 'xbuild emu + binfmt (userns)',
      run: (s) => runHost(['unshare', '--user', '--map-root-user', '--mount', '--fork', '--', '/bin/sh', '-c', BINFMT_WRAPPER, 'sh', hostEmulator, g.root, s], { env: ENV, timeoutMs: 600_000 }),
    });
  }
  list.push({
    name: 'PRoot -q',
    run: (s) => runHost(['proot', '-q', hostEmulator, '-r', g.root, '/bin/sh', '-c', s], { env: ENV, timeoutMs: 600_000 }),
  });
  return list;
}

const BINFMT_WRAPPER = `set -e
emu=$1 root=$2 script=$3
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':xbuild-bench-arm:M::${ARM_MAGIC}:${ARM_MASK}:'"$emu"':F' > /proc/sys/fs/binfmt_misc/register
exec chroot "$root" /bin/sh -c "$script"`;

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  await assertNoArmBinfmt();
  const hostEmulator = await findEmulator('arm');
  const g = await prepareGuest('armhf', 'debian-dash', hostEmulator);
  try {
    const binfmtProblem = await probeUsernsBinfmt(g, hostEmulator);
    if (binfmtProblem) console.log(`NOTE: ${binfmtProblem}`);
    const stock = await stockEmulatorFor(hostEmulator);
    if (!stock.path) console.log(`NOTE: ${stock.note}`);
    const ms = modes(g, hostEmulator, !binfmtProblem, stock.path);
    console.log(`emulator: ${hostEmulator}${stock.path ? `\nstock:    ${stock.path} (${stock.note})` : ''}\nload average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`workload: guest dash loop of N=${N} execs, ${REPS} repetitions, median; per exec = (T(N) - T(0)) / N\n`);
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
        const s = samples.get(m.name)!;
        results[label]![m.name] = (median(s.full) - median(s.empty)) / N;
      }
    }
    const ref = binfmtProblem ? 'xbuild -execve' : stock.path ? 'stock QEMU + binfmt (userns)' : 'xbuild emu + binfmt (userns)';
    console.log(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const header = ['mode'.padEnd(30), ...Object.keys(PROGRAMS).map((p) => `${p} (ms/exec, x vs ${ref})`.padEnd(44))];
    console.log(header.join(''));
    for (const m of ms) {
      const cells = Object.keys(PROGRAMS).map((p) => {
        const v = results[p]![m.name]!;
        return `${v.toFixed(3)}  (${(v / results[p]![ref]!).toFixed(3)}x)`.padEnd(44);
      });
      console.log([m.name.padEnd(30), ...cells].join(''));
    }
    if (!binfmtProblem) {
      for (const p of Object.keys(PROGRAMS)) {
        const over = (results[p]!['xbuild -execve']! / results[p]!['xbuild emu + binfmt (userns)']! - 1) * 100;
        console.log(`${p}: interception ${over >= 0 ? '+' : ''}${over.toFixed(1)}% vs binfmt (target <= +5%: ${over <= 5 ? 'met' : 'NOT met'})`);
      }
    }
  } finally {
    await removeTree(g.root);
  }
  await assertNoArmBinfmt(); // again after the run: nothing may have registered a handler
  console.log('host binfmt_misc: no ARM handler (checked after the run)');
}

(process.argv.includes('--profile') ? profileExec() : main()).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
