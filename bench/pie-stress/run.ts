// PIE vs non-PIE on evidence (issue 11 item 5): thousands of short emulated
// processes under xbuild's non-PIE static emulator (and, for comparison,
// Debian's static-pie qemu-user-static from the archive), counted for crashes;
// plus where the kernel puts the emulator's image, brk heap and guest
// reservation (sampled from /proc/<pid>/maps). Prints tables; run under the
// heavy lock:
//
//   flock /tmp/xbuild-heavy.lock npx tsx bench/pie-stress/run.ts      (npm run bench:pie-stress)
//   XBUILD_STRESS_RUNS=5000 XBUILD_STRESS_LAYOUTS=50 ...
import { copyFile, chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from '../../test/helpers/arm-root.ts';
import { assertNoArmBinfmt } from '../../test/helpers/binfmt.ts';
import { elfSample } from '../../test/helpers/elf-samples.ts';
import { emulatorMarker, findEmulator } from '../../test/helpers/emulators.ts';
import { prepareGuest, type Guest } from '../../test/helpers/guest.ts';
import { hex, mib, sampleLayout, type Layout } from './layout.ts';
import { stress, type LoopKind } from './stress.ts';

const RUNS = Number(process.env.XBUILD_STRESS_RUNS ?? 5000);
const LAYOUTS = Number(process.env.XBUILD_STRESS_LAYOUTS ?? 50);
const STOCK = '/usr/bin/qemu-arm-stock-pie';
const PROGRAMS = { static: '/opt/xb/exitsig-static exit 0', dynamic: '/opt/xb/exitsig exit 0' };

async function main(): Promise<void> {
  await assertNoArmBinfmt();
  const kernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  const aslr = (await readFile('/proc/sys/kernel/randomize_va_space', 'utf8')).trim();
  const xbuildEmu = await findEmulator('arm');
  const g: Guest = await prepareGuest('armhf', 'debian-dash', xbuildEmu);
  try {
    await copyFile(await elfSample('amd64/qemu-arm-static'), join(g.root, STOCK));
    await chmod(join(g.root, STOCK), 0o755);
    console.log(`kernel ${kernel}, randomize_va_space=${aslr}; ${RUNS} runs per row; armhf Debian tree`);
    console.log(`xbuild: ${xbuildEmu} (${await emulatorMarker(xbuildEmu)}), non-PIE (ET_EXEC)`);
    console.log(`stock:  Debian bookworm qemu-user-static qemu-arm-static (static-pie, no -execve)\n`);

    console.log('| emulator | loop | program | runs | crashes/failures | seconds | ms/run |');
    console.log('|---|---|---|---|---|---|---|');
    const rows: Array<[string, string, LoopKind]> = [
      ['xbuild non-PIE', g.emulator, 'guest-loop'],
      ['xbuild non-PIE', g.emulator, 'host-loop'],
      ['Debian static-pie', STOCK, 'host-loop'],
    ];
    for (const [name, emu, kind] of rows) {
      for (const [label, prog] of Object.entries(PROGRAMS)) {
        const r = await stress(g, emu, prog, RUNS, kind);
        console.log(`| ${name} | ${kind} | ${label} | ${r.runs} | ${r.failures} | ${r.seconds.toFixed(0)} | ${(1000 * r.seconds / r.runs).toFixed(1)} |`);
        for (const s of r.samples) console.log(`|   | | ${s.replace(/\|/g, '/')} | | | | |`);
      }
    }

    console.log(`\nLayout of a running qemu-arm (guest /bin/sleep running), ${LAYOUTS} samples each (from /proc/<pid>/maps):\n`);
    console.log('| emulator | image (min..max start) | heap start - image end (min..max) | guest reservation | heap inside reservation | room above heap (min) |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, emu] of [['xbuild non-PIE', g.emulator], ['Debian static-pie', STOCK]] as const) {
      const ls: Layout[] = [];
      for (let i = 0; i < LAYOUTS; i++) ls.push(await sampleLayout(g.root, emu, ['/bin/sleep', '5']));
      const starts = ls.map((l) => l.imageStart);
      const gaps = ls.filter((l) => l.heapStart !== undefined).map((l) => l.heapStart! - l.imageEnd);
      const inside = ls.filter((l) => l.heapStart !== undefined && l.reservation && l.heapStart! < l.reservation.end && l.heapEnd! > l.reservation.start).length;
      const room = ls.filter((l) => l.aboveHeap !== undefined).map((l) => l.aboveHeap! - l.heapEnd!);
      const min = (a: bigint[]) => a.reduce((x, y) => (y < x ? y : x), a[0] ?? 0n);
      const max = (a: bigint[]) => a.reduce((x, y) => (y > x ? y : x), a[0] ?? 0n);
      const res = ls.find((l) => l.reservation)?.reservation;
      console.log(`| ${name} | ${hex(min(starts))}..${hex(max(starts))} | ${mib(min(gaps))}..${mib(max(gaps))} | ${res ? `${mib(res.end - res.start)} (e.g. ${hex(res.start)})` : '-'} | ${inside}/${ls.length} | ${mib(min(room))} |`);
    }
  } finally {
    await removeTree(g.root);
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
