// bench/shim: what the /bin/sh shim costs compared with binfmt_misc, with the
// same patched emulator, in the same run, inside a user namespace that has its
// own binfmt_misc (the host's is never touched).
//
//   npx tsx bench/shim/run.ts [--arch armhf|arm64] [--rounds N] [--json]
//
// Prints, per workload, the median wall time and CPU time (user + system of
// every process of the run) of each path, and the medians of the per-round
// ratios (shim / binfmt). Target: <= 1.05 for the fork/exec loop and the
// configure-style script, judged on CPU time because wall time on a shared
// 2-core machine swings by more than the effect measured (both are printed).
// The shell-spawn loop is the worst case (every program started is a shell,
// so every start pays the shim's extra exec) and is shown for information.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureShim } from '../../src/shims/build.ts';
import { installXbuildLayer } from '../../test/helpers/install-layer.ts';
import type { QemuArch } from '../../src/oci/platform.ts';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { cacheRoot, copyRoot, type DebArch } from '../../test/helpers/shims-roots.ts';
import { patchedEmulator } from '../../test/helpers/shims-emulator.ts';
import { chrootRun } from '../../test/helpers/shims-chroot.ts';
import { median } from '../median.ts';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const arch = arg('arch', 'armhf') as DebArch;
  const rounds = Number(arg('rounds', '5'));
  const qarch: QemuArch = arch === 'armhf' ? 'arm' : 'aarch64';
  await assertNoArmBinfmt();
  const emulatorPath = await patchedEmulator(qarch);
  const shimPath = await ensureShim({ cacheRoot: cacheRoot() });
  const work = await mkdtemp(join(tmpdir(), 'xbuild-bench-shim-'));
  try {
    // Two copies of one real Debian tree (dash as /bin/sh, coreutils, sed, grep),
    // both with the xbuild layer; only the second one is put in cross-build mode.
    const binfmtRoot = await copyRoot(arch, 'debian-dash', work);
    const shimRoot = await copyRoot(arch, 'debian-dash', work);
    for (const root of [binfmtRoot, shimRoot]) await installXbuildLayer(root, { arch: qarch, emulatorPath, shimPath });
    const started = await chrootRun(shimRoot, ['/usr/bin/cross-build-start']);
    if (started.code !== 0) throw new Error(`cross-build-start failed: ${started.stderr}`);

    const wdir = join(here, 'workloads');
    const workloads = (await readdir(wdir)).filter((f) => f.endsWith('.sh')).sort().map((f) => join(wdir, f));
    const { stdout } = await run('unshare', [
      '--user', '--map-root-user', '--mount', '--fork',
      'bash', join(here, 'driver.sh'), emulatorPath, qarch, binfmtRoot, shimRoot, String(rounds), ...workloads,
    ], { maxBuffer: 1 << 24 });

    type Runs = Map<number, { wall: number; cpu: number }>;
    const times = new Map<string, { binfmt: Runs; shim: Runs }>();
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [mode, name, round, wall, cpu] = line.split(' ') as ['binfmt' | 'shim', string, string, string, string];
      if (!times.has(name)) times.set(name, { binfmt: new Map(), shim: new Map() });
      times.get(name)![mode].set(Number(round), { wall: Number(wall), cpu: Number(cpu) });
    }
    const rows: string[][] = [[
      'workload', 'binfmt wall', 'shim wall', 'ratio wall', 'binfmt cpu', 'shim cpu', 'ratio cpu', 'target (cpu ratio <= 1.05)',
    ]];
    const results: Record<string, { wall: number; cpu: number }> = {};
    for (const [name, t] of times) {
      const ratio = (k: 'wall' | 'cpu') => median([...t.shim.keys()].map((r) => t.shim.get(r)![k] / t.binfmt.get(r)![k]));
      const med = (m: Runs, k: 'wall' | 'cpu') => `${median([...m.values()].map((x) => x[k])).toFixed(0)} ms`;
      const worst = name.includes('shell-spawn');
      const label = name.replace(/^\d+-/, '');
      results[label] = { wall: ratio('wall'), cpu: ratio('cpu') };
      rows.push([
        label, med(t.binfmt, 'wall'), med(t.shim, 'wall'), ratio('wall').toFixed(3),
        med(t.binfmt, 'cpu'), med(t.shim, 'cpu'), ratio('cpu').toFixed(3),
        worst ? 'worst case, for information' : ratio('cpu') <= 1.05 ? 'met' : 'MISSED',
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const { stdout: ver } = await run(emulatorPath, ['-version']);
    console.log(`bench/shim: ${arch}, ${rounds} rounds, emulator ${emulatorPath}`);
    console.log(`  ${ver.split('\n')[0]}`);
    console.log('  both paths in one user namespace with its own binfmt_misc (handler off during shim runs);');
    console.log('  medians over rounds; ratios are medians of per-round shim/binfmt ratios; cpu = user+sys of all processes');
    for (const r of rows) console.log('  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
    if (process.argv.includes('--json')) console.log(JSON.stringify({ arch, rounds, results }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/shim: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
