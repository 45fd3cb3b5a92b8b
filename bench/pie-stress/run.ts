// PIE vs non-PIE on evidence (issue 11 item 5): thousands of short emulated
// processes under xbuild's non-PIE static emulator (and, for comparison,
// Debian's static-pie qemu-user-static from the archive), counted for crashes;
// plus where the kernel puts the emulator's image, brk heap and guest
// reservation (sampled from /proc/<pid>/maps). Prints tables; run under the
// heavy lock:
//
//   flock /tmp/xbuild-heavy.lock npx tsx bench/pie-stress/run.ts      (npm run bench:pie-stress)
//   XBUILD_STRESS_RUNS=5000 XBUILD_STRESS_HOST_RUNS=1000 XBUILD_STRESS_LAYOUTS=50 XBUILD_STRESS_ARCHES=armhf,arm64 ...
import { copyFile, chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { qemuArchOf, removeTree } from '../../test/helpers/arm-root.ts';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { elfSample } from '../../test/helpers/elf-samples.ts';
import { emulatorMarker, findEmulator } from '../../test/helpers/emulators.ts';
import { prepareGuest, type Guest } from '../../test/helpers/guest.ts';
import { hex, mib, sampleLayout, type Layout } from './layout.ts';
import { stress, type LoopKind } from './stress.ts';

const RUNS = Number(process.env.XBUILD_STRESS_RUNS ?? 5000);
const HOST_RUNS = Number(process.env.XBUILD_STRESS_HOST_RUNS ?? 1000);
const LAYOUTS = Number(process.env.XBUILD_STRESS_LAYOUTS ?? 50);
const ARCHES = (process.env.XBUILD_STRESS_ARCHES ?? 'armhf,arm64').split(',') as Array<'armhf' | 'arm64'>;
const PROGRAMS = { static: '/opt/xb/exitsig-static exit 0', dynamic: '/opt/xb/exitsig exit 0' };

const min = (a: bigint[]) => a.reduce((x, y) => (y < x ? y : x), a[0] ?? 0n);
const max = (a: bigint[]) => a.reduce((x, y) => (y > x ? y : x), a[0] ?? 0n);

async function benchArch(arch: 'armhf' | 'arm64', layoutRows: string[]): Promise<void> {
  const qemuArch = qemuArchOf(arch);
  const xbuildEmu = await findEmulator(qemuArch);
  const stock = `/usr/bin/qemu-${qemuArch}-stock-pie`;
  const g: Guest = await prepareGuest(arch, 'debian-dash', xbuildEmu);
  try {
    await copyFile(await elfSample(`amd64/qemu-${qemuArch}-static`), join(g.root, stock));
    await chmod(join(g.root, stock), 0o755);
    const rows: Array<[string, string, LoopKind, number]> = [
      ['xbuild non-PIE', g.emulator, 'guest-loop', RUNS],
      ['xbuild non-PIE', g.emulator, 'host-loop', HOST_RUNS],
      ['Debian static-pie', stock, 'host-loop', HOST_RUNS],
    ];
    for (const [name, emu, kind, n] of rows) {
      if (n <= 0) continue;
      for (const [label, prog] of Object.entries(PROGRAMS)) {
        const r = await stress(g, emu, prog, n, kind);
        console.log(`| ${arch} | ${name} | ${kind} | ${label} | ${r.runs} | ${r.failures} | ${r.seconds.toFixed(0)} | ${(1000 * r.seconds / r.runs).toFixed(1)} |`);
        for (const s of r.samples) console.log(`|   | | | ${s.replace(/\|/g, '/')} | | | | |`);
      }
    }
    for (const [name, emu] of [['xbuild non-PIE', g.emulator], ['Debian static-pie', stock]] as const) {
      const ls: Layout[] = [];
      for (let i = 0; i < LAYOUTS; i++) ls.push(await sampleLayout(g.root, emu, ['/bin/sleep', '5']));
      const withHeap = ls.filter((l) => l.heapStart !== undefined);
      const gaps = withHeap.map((l) => l.heapStart! - l.imageEnd);
      const inside = withHeap.filter((l) => l.reservation && l.heapStart! < l.reservation.end && l.heapEnd! > l.reservation.start).length;
      const room = withHeap.filter((l) => l.aboveHeap !== undefined).map((l) => l.aboveHeap! - l.heapEnd!);
      const res = ls.find((l) => l.reservation)?.reservation;
      layoutRows.push(`| ${arch} | ${name} | ${hex(min(ls.map((l) => l.imageStart)))}..${hex(max(ls.map((l) => l.imageStart)))} | ${mib(min(gaps))}..${mib(max(gaps))} | ${res ? `${mib(res.end - res.start)} (e.g. ${hex(res.start)})` : '-'} | ${inside}/${withHeap.length} | ${mib(min(room))} |`);
    }
  } finally {
    await removeTree(g.root);
  }
}

async function main(): Promise<void> {
  await assertNoArmBinfmt();
  const kernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  const aslr = (await readFile('/proc/sys/kernel/randomize_va_space', 'utf8')).trim();
  console.log(`kernel ${kernel}, randomize_va_space=${aslr}; Debian trees; guest-loop ${RUNS} runs, host-loop ${HOST_RUNS} runs per row`);
  for (const arch of ARCHES) {
    const e = await findEmulator(qemuArchOf(arch));
    console.log(`xbuild ${arch}: ${e} (${await emulatorMarker(e)}), non-PIE (ET_EXEC)`);
  }
  console.log('stock: Debian bookworm qemu-user-static (static-pie, no -execve)\n');
  console.log('| arch | emulator | loop | program | runs | crashes/failures | seconds | ms/run |');
  console.log('|---|---|---|---|---|---|---|---|');
  const layoutRows: string[] = [];
  for (const arch of ARCHES) await benchArch(arch, layoutRows);
  console.log(`\nLayout of a running emulator (guest /bin/sleep), ${LAYOUTS} samples each, from /proc/<pid>/maps:\n`);
  console.log('| arch | emulator | image start (min..max) | heap start - image end (min..max) | largest PROT_NONE mapping (guest reservation) | heap inside it | room above heap (min) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of layoutRows) console.log(r);
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
