// Real Debian workloads, xbuild vs stock: each workload of workloads.ts runs in a
// debootstrapped bookworm tree (armhf, arm64) under
//   xbuild   xbuild's patched static emulator with -execve (no binfmt_misc at all;
//            the host's binfmt_misc is asserted to have no ARM handler, before and after)
//   stock    Debian's STOCK static qemu-user of the same upstream version, registered
//            under binfmt_misc ONLY inside a new user namespace (bench/workloads/userns-root.sh)
//   levers   the same emulator with every lever cross-build-start turns on (the contract's
//            EMULATOR_LEVERS, each 'on': the translation cache in the tree's TB_CACHE_DIR,
//            kept across the arch's workloads as across a build's RUN steps)
// in the same run, interleaved per workload, and prints the matrix workload x arch:
// pass/time for each and the time ratios xbuild/stock and levers/stock.
//
//   npm run bench:workloads
//   XBUILD_WORKLOADS_ARCHS=armhf XBUILD_WORKLOADS_ONLY='ldconfig|Perl' npm run bench:workloads
//   XBUILD_STOCK_QEMU_DIR=DIR (qemu-arm-static, qemu-aarch64-static) when Debian's archive no
//   longer carries the emulator's version
//   XBUILD_WORKLOADS_STOCK_VERSION=any: accept a stock emulator of ANOTHER upstream version
//   (printed in the header and the matrix as a version mismatch); without it that is an error
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { copyTree, qemuArchOf, REPO_ROOT, removeTree } from '../../test/helpers/arm-root.ts';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { findEmulator } from '../../test/helpers/emulators.ts';
import { runHost, type RunResult } from '../../test/helpers/guest.ts';
import {
  BINFMT, CHROOT_WRAPPER, crashLines, GUEST_ENV, installEmulator, installPrograms, runXbuild, stockQemuPath, workloadTreePath, type WorkloadArch,
} from '../../test/helpers/workload.ts';
import { EMULATOR_LEVERS } from '../../src/contract/in-image.ts';
import { WORKLOADS, type Workload } from './workloads.ts';
import { loadAverages } from '../load-average.ts';

const ARCHS = (process.env.XBUILD_WORKLOADS_ARCHS ?? 'armhf,arm64').split(',').filter(Boolean) as WorkloadArch[];
const ONLY = process.env.XBUILD_WORKLOADS_ONLY ? new RegExp(process.env.XBUILD_WORKLOADS_ONLY, 'i') : undefined;
const ANY_STOCK_VERSION = process.env.XBUILD_WORKLOADS_STOCK_VERSION === 'any';
const USERNS_ROOT = join(REPO_ROOT, 'bench', 'workloads', 'userns-root.sh');

// flags as Debian's qemu-user 10.0 ships them (usr/share/qemu/binfmt.d/qemu-arm.conf): O pass an
// open fd of the binary, P preserve argv[0], F emulator opened at registration
const BINFMT_FLAGS = 'OPF';

interface Cell { pass: boolean; seconds: number; note: string }
type Mode = 'xbuild' | 'levers' | 'stock';
const MODES: readonly Mode[] = ['xbuild', 'levers', 'stock'];
const LEVER_ARGS = EMULATOR_LEVERS.flatMap((l) => [l.flag, 'on']);

/** Stock run: in a new user namespace, register STOCK under binfmt_misc, mount, chroot, run SCRIPT. */
function runStock(root: string, arch: WorkloadArch, stockEmulator: string, script: string, timeoutMs: number): Promise<RunResult> {
  const [magic, mask] = BINFMT[arch];
  const register = `:xbuild-wl-${arch}:M::${magic}:${mask}:${stockEmulator}:${BINFMT_FLAGS}`;
  const wrapper = `set -e; mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; printf '%s' "$1" > /proc/sys/fs/binfmt_misc/register; shift; ${CHROOT_WRAPPER}`;
  return runHost(['bash', USERNS_ROOT, '/bin/sh', '-c', wrapper, 'sh', register, root, '/bin/sh', '-c', script], { env: GUEST_ENV, timeoutMs });
}

function judge(w: Workload, r: RunResult, seconds: number): Cell {
  const crashes = crashLines(r);
  if (crashes.length) return { pass: false, seconds, note: `CRASH: ${crashes.join(' | ')}` };
  if (r.code !== 0) return { pass: false, seconds, note: `exit ${r.code ?? r.signal}: ${tail(r)}` };
  if (!w.expect.test(r.stdout)) return { pass: false, seconds, note: `output lacks ${w.expect}: ${tail(r)}` };
  return { pass: true, seconds, note: '' };
}

const tail = (r: RunResult) => `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-6).join(' | ');

function versionOf(emulator: string): string {
  const first = execFileSync(emulator, ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  const m = /version (\d+\.\d+\.\d+)/.exec(first);
  if (!m) throw new Error(`cannot tell the QEMU version of ${emulator} from: ${first}`);
  return m[1]!;
}

const fmt = (c: Cell | undefined) => (c ? `${c.pass ? 'pass' : 'FAIL'} ${c.seconds.toFixed(1)} s` : 'not run');

async function main(): Promise<void> {
  await assertNoArmBinfmt();
  const results = new Map<string, Record<Mode, Cell>>();
  const header: string[] = [`kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, ${ARCHS.join(' + ')}, load average at start ${loadAverages()}`];
  for (const arch of ARCHS) {
    const q = qemuArchOf(arch);
    const xbuildEmu = await findEmulator(q);
    const version = versionOf(xbuildEmu);
    const stockDir = process.env.XBUILD_STOCK_QEMU_DIR || await stockQemuPath(version);
    const stockEmu = join(stockDir, `qemu-${q}-static`);
    const stockVersion = versionOf(stockEmu);
    if (stockVersion !== version) {
      const what = `stock emulator ${stockEmu} is QEMU ${stockVersion}, xbuild's is ${version}`;
      if (!ANY_STOCK_VERSION) throw new Error(`${what}: not comparable (XBUILD_WORKLOADS_STOCK_VERSION=any compares them anyway)`);
      header.push(`${arch}: VERSIONS DIFFER: ${what} (XBUILD_WORKLOADS_STOCK_VERSION=any); ratios compare different QEMU versions`);
      console.error(header.at(-1));
    }
    header.push(`${arch}: xbuild ${xbuildEmu} (${execFileSync(xbuildEmu, ['-version'], { encoding: 'utf8' }).split('\n')[0]})`,
      `${arch}: stock  ${stockEmu} (${execFileSync(stockEmu, ['-version'], { encoding: 'utf8' }).split('\n')[0]})`);
    console.error(`[${arch}] preparing trees (fixture: debootstrapped, packages downloaded)...`);
    const base = await workloadTreePath(arch, 'base');
    const trees: Record<Mode, string> = {
      xbuild: await copyTree(base, `xbuild-wl-${arch}-x-`), levers: await copyTree(base, `xbuild-wl-${arch}-l-`), stock: await copyTree(base, `xbuild-wl-${arch}-s-`),
    };
    try {
      const inGuest = await installEmulator(trees.xbuild, arch, xbuildEmu);
      if (await installEmulator(trees.levers, arch, xbuildEmu) !== inGuest) throw new Error('the emulator landed at two paths');
      for (const t of Object.values(trees)) await installPrograms(t);
      for (const w of WORKLOADS) {
        if (ONLY && !ONLY.test(w.name) && !/^apt-get install/.test(w.name)) continue;
        const row = {} as Record<Mode, Cell>;
        for (const mode of MODES) {
          const t0 = performance.now();
          const r = mode === 'stock'
            ? await runStock(trees.stock, arch, stockEmu, w.script, w.timeoutMs)
            : await runXbuild(trees[mode], inGuest, w.script, w.timeoutMs, mode === 'levers' ? LEVER_ARGS : []);
          row[mode] = judge(w, r, (performance.now() - t0) / 1000);
          console.error(`[${arch}] ${w.name} / ${mode}: ${fmt(row[mode])} (load ${loadAverages()})${row[mode].note ? `\n    ${row[mode].note}` : ''}`);
        }
        results.set(`${w.name}\t${arch}`, row);
      }
    } finally {
      for (const t of Object.values(trees)) await removeTree(t);
    }
  }
  await assertNoArmBinfmt(); // nothing registered a handler on the host meanwhile
  printMatrix(header, results);
  const cells = [...results.values()].flatMap((r) => MODES.map((m) => r[m]));
  if (cells.some((c) => !c.pass)) process.exitCode = 1;
}

function printMatrix(header: string[], results: Map<string, Record<Mode, Cell>>): void {
  const w0 = Math.max(8, ...[...results.keys()].map((k) => k.split('\t')[0]!.length));
  console.log(header.join('\n'));
  console.log(`load average at end ${loadAverages()}; host binfmt_misc: no ARM handler (checked before and after)\n`);
  console.log(`${'workload'.padEnd(w0)}  arch   ${'xbuild -execve'.padEnd(16)}${'+ levers'.padEnd(16)}${'stock binfmt'.padEnd(16)}ratio  levers ratio`);
  const ratio = (a: Cell, b: Cell) => (a.pass && b.pass ? `${(a.seconds / b.seconds).toFixed(2)}x` : '-');
  for (const [key, r] of results) {
    const [name, arch] = key.split('\t');
    console.log(`${name!.padEnd(w0)}  ${arch!.padEnd(6)} ${MODES.map((m) => fmt(r[m]).padEnd(16)).join('')}${ratio(r.xbuild, r.stock).padEnd(7)}${ratio(r.levers, r.stock)}`);
  }
  const failures = [...results].flatMap(([k, r]) => MODES.filter((m) => !r[m].pass).map((m) => `${k.replace('\t', ' / ')} / ${m}: ${r[m].note}`));
  const crashes = failures.filter((f) => f.includes('CRASH'));
  console.log(`\n${results.size * MODES.length - failures.length} of ${results.size * MODES.length} cells pass; crashes: ${crashes.length}`);
  for (const f of failures) console.log(`  ${f}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
